//! Reading the vendor-specific `options-json` object of a start or update request.
//!
//! Every accessor answers `Ok(None)` for a missing (or `null`) key and an `invalid-argument`
//! error naming `options.KEY` for a value of the wrong type or range, so a plugin can `?` it:
//!
//! ```
//! use ingest_plugin_sdk::options::Options;
//!
//! let options = Options::parse(r#"{"volume": "80", "loop": true}"#).expect("an object");
//! assert_eq!(options.int("volume", 0, 100).expect("in range"), Some(80));
//! assert_eq!(options.bool("loop").expect("a boolean"), Some(true));
//! assert_eq!(options.str("token").expect("absent"), None);
//! let e = options.int("volume", 0, 50).expect_err("out of range");
//! assert!(e.message.contains("`options.volume`"));
//! ```

use serde_json::{Map, Value};

use crate::ProviderError;
use crate::error::invalid_argument;

/// The parsed `options` object of a request.
#[derive(Debug, Default, Clone)]
pub struct Options(Map<String, Value>);

impl Options {
    /// Parses the `options-json` text; `""` counts as `{}`.
    pub fn parse(json: &str) -> Result<Self, ProviderError> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(invalid_argument("`options` must be a JSON object")),
            Err(e) => Err(invalid_argument(format!(
                "`options` is not valid JSON: {e}"
            ))),
        }
    }

    /// The raw value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A string option; a number is accepted and rendered as text.
    pub fn str(&self, key: &str) -> Result<Option<String>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid_argument(format!(
                "`options.{key}` must be a string"
            ))),
        }
    }

    /// An integer option within `min..=max`; a string holding an integer is accepted.
    pub fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ProviderError> {
        let n = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(n) => Err(invalid_argument(format!(
                "`options.{key}` is {n}; it must be between {min} and {max}"
            ))),
            None => Err(invalid_argument(format!(
                "`options.{key}` must be an integer"
            ))),
        }
    }

    /// Refuses any key outside `allowed` (`invalid-argument` naming the key and the ones
    /// read). An update uses it: a misspelt change must not be answered "done".
    pub fn only(&self, allowed: &[&str]) -> Result<(), ProviderError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(invalid_argument(format!(
                "`options.{}` is not a setting this provider can change on a running ingest (it can change: {})",
                shown_key(k),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ))),
        }
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(Value::is_null)
    }

    /// A boolean option.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid_argument(format!(
                "`options.{key}` must be true or false"
            ))),
        }
    }
}

/// An option key as an error message shows it: as it is when short and plain, else escaped
/// and cut to 64 characters with its length (a caller's key is unbounded text).
fn shown_key(key: &str) -> String {
    const MAX_SHOWN: usize = 64;
    if key.chars().count() <= MAX_SHOWN && !key.chars().any(|c| c.is_control() || c == '`') {
        return key.to_string();
    }
    let cut: String = key.chars().take(MAX_SHOWN).collect();
    format!("{cut:?}… ({} bytes)", key.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_key_it_refuses_bounded() {
        let options = Options::parse(r#"{"volume": 1}"#).expect("object");
        let e = options.only(&["tempo"]).expect_err("volume is not read");
        assert!(
            e.message.starts_with("`options.volume` is not a setting"),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with("(it can change: tempo)"),
            "{}",
            e.message
        );

        let long = format!(r#"{{"{}\n": 1}}"#, "k".repeat(5000));
        let e = Options::parse(&long)
            .expect("object")
            .only(&[])
            .expect_err("refused");
        assert!(e.message.len() < 300, "{}", e.message.len());
        assert!(e.message.contains("… (5001 bytes)"), "{}", e.message);
        assert!(!e.message.contains('\n'), "{}", e.message);
    }
}
