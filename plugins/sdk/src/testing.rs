//! Helpers for a plugin's unit tests on the build machine.

/// A config lookup over fixed `(key, value)` pairs, standing in for
/// [`config::get`](crate::config::get) where a plugin's settings take the lookup as a closure:
///
/// ```
/// let get = ingest_plugin_sdk::testing::config_lookup(&[("app_id", "42")]);
/// assert_eq!(get("app_id").as_deref(), Some("42"));
/// assert_eq!(get("region"), None);
/// ```
pub fn config_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

/// The declared config keys as `(name, required)` pairs, for asserting on `describe`:
///
/// ```
/// use ingest_plugin_sdk::{ProviderInfo, config_key, testing::config_key_flags};
///
/// let info = ProviderInfo {
///     name: "p".into(), version: "0.1.0".into(), vendor: "v".into(),
///     directions: Vec::new(), operations: Vec::new(),
///     config_keys: vec![config_key("app_id", true, "…"), config_key("region", false, "…")],
///     secrets: Vec::new(), default_hosts: Vec::new(),
/// };
/// assert_eq!(config_key_flags(&info), vec![("app_id", true), ("region", false)]);
/// ```
pub fn config_key_flags(info: &crate::ProviderInfo) -> Vec<(&str, bool)> {
    info.config_keys
        .iter()
        .map(|k| (k.name.as_str(), k.required))
        .collect()
}
