//! Alibaba Cloud RPC request signing, `SignatureVersion=1.0` (HMAC-SHA1), as the vendor
//! documents it.
//!
//! The AccessKeyId is a secret the plugin never sees, yet it is part of the signed text. So the
//! canonical query and the StringToSign are built as a list of [`Piece`]s in which the
//! AccessKeyId is a *reference*: the host substitutes the real value inside its HMAC
//! ([`signed_query`] passes it as a secret reference), and the URL carries a placeholder the
//! host swaps for the real value when the request leaves.
//!
//! That works only because percent-encoding the AccessKeyId (once in the canonical query, once
//! more in the StringToSign) leaves it unchanged, which holds when it consists of RFC 3986
//! unreserved characters. Alibaba AccessKeyIds are `LTAI` followed by letters and digits; the
//! plugin cannot check this (it never holds the value) and documents the assumption instead.
//! A key with other characters would make every signature fail with `SignatureDoesNotMatch`.

use base64::Engine as _;
use ingest_plugin_sdk::creds::{self, HashAlgorithm, Part};
pub use ingest_plugin_sdk::sign::percent_encode;
use ingest_plugin_sdk::{ErrorKind, ProviderError, error};

/// The secret holding the AccessKeyId (sent on the wire through a placeholder).
pub const SECRET_ACCESS_KEY_ID: &str = "access_key_id";
/// The secret holding the AccessKeySecret (only ever inside the host's HMAC).
pub const SECRET_ACCESS_KEY_SECRET: &str = "access_key_secret";

/// `SignatureMethod`.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "1.0";
/// `Format`.
pub const FORMAT: &str = "JSON";

/// A stretch of text to sign: literal, or the AccessKeyId by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The value of the `access_key_id` secret.
    AccessKeyId,
}

/// A query parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A literal value.
    Text(String),
    /// The AccessKeyId (the `AccessKeyId` common parameter).
    AccessKeyId,
}

/// One query parameter.
pub type Param = (String, Value);

/// `HMAC-SHA1(key = AccessKeySecret ‖ "&", data = concat(pieces))`, raw bytes, computed by the
/// host over the secret references.
fn hmac_sha1(data: &[Piece]) -> Result<Vec<u8>, ProviderError> {
    let data: Vec<Part> = data
        .iter()
        .map(|p| match p {
            Piece::Text(t) => creds::text(t.as_str()),
            Piece::AccessKeyId => creds::secret(SECRET_ACCESS_KEY_ID),
        })
        .collect();
    creds::hmac(
        HashAlgorithm::Sha1,
        &[creds::secret(SECRET_ACCESS_KEY_SECRET), creds::text("&")],
        &data,
    )
}

/// `Timestamp`: the UTC time of `now_ms` as `YYYY-MM-DDThh:mm:ssZ`.
pub fn timestamp(now_ms: u64) -> Result<String, ProviderError> {
    let dt = i64::try_from(now_ms / 1000)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .ok_or_else(|| {
            error::new(
                ErrorKind::PluginFault,
                format!("the call's timestamp {now_ms} ms is outside the representable range"),
            )
        })?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    ))
}

/// The common parameters of every RPC request (everything but `Signature`).
pub fn common_params(action: &str, version: &str, nonce: &str, timestamp: &str) -> Vec<Param> {
    let t = |s: &str| Value::Text(s.to_string());
    vec![
        ("Action".to_string(), t(action)),
        ("Version".to_string(), t(version)),
        ("Format".to_string(), t(FORMAT)),
        ("AccessKeyId".to_string(), Value::AccessKeyId),
        ("SignatureMethod".to_string(), t(SIGNATURE_METHOD)),
        ("SignatureVersion".to_string(), t(SIGNATURE_VERSION)),
        ("SignatureNonce".to_string(), t(nonce)),
        ("Timestamp".to_string(), t(timestamp)),
    ]
}

/// Sorts parameters by name, byte order (stable, so equal names keep their order).
pub fn sorted(mut params: Vec<Param>) -> Vec<Param> {
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    params
}

/// Appends `text` to `pieces`, merging it into a trailing text piece.
fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if let Some(Piece::Text(last)) = pieces.last_mut() {
        last.push_str(text);
    } else {
        pieces.push(Piece::Text(text.to_string()));
    }
}

/// The CanonicalizedQueryString of already sorted `params`: `enc(name)=enc(value)` joined
/// by `&`, with the AccessKeyId as a reference (its encoding is the identity, see the module
/// docs).
pub fn canonical_query(params: &[Param]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            push_text(&mut pieces, "&");
        }
        push_text(&mut pieces, &percent_encode(name));
        push_text(&mut pieces, "=");
        match value {
            Value::Text(v) => push_text(&mut pieces, &percent_encode(v)),
            Value::AccessKeyId => pieces.push(Piece::AccessKeyId),
        }
    }
    pieces
}

/// StringToSign = `method & percentEncode("/") & percentEncode(canonical)`.
pub fn string_to_sign(method: &str, canonical: &[Piece]) -> Vec<Piece> {
    let mut pieces = vec![Piece::Text(format!("{method}&{}&", percent_encode("/")))];
    for piece in canonical {
        match piece {
            Piece::Text(t) => push_text(&mut pieces, &percent_encode(t)),
            Piece::AccessKeyId => pieces.push(Piece::AccessKeyId),
        }
    }
    pieces
}

/// The complete query string to send (without `?`): the sorted parameters, each name and
/// value percent-encoded, then `Signature`. The AccessKeyId is written as a placeholder (only
/// `[a-z0-9-]`, so it needs no escaping) that the host replaces with the AccessKeyId when the
/// request leaves.
pub fn signed_query(method: &str, params: Vec<Param>) -> Result<String, ProviderError> {
    let params = sorted(params);
    let to_sign = string_to_sign(method, &canonical_query(&params));
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac_sha1(&to_sign)?);
    let access_key_id = creds::placeholder(&[creds::secret(SECRET_ACCESS_KEY_ID)])?;
    let mut query = String::new();
    for (name, value) in &params {
        query.push_str(&percent_encode(name));
        query.push('=');
        match value {
            Value::Text(v) => query.push_str(&percent_encode(v)),
            Value::AccessKeyId => query.push_str(&access_key_id),
        }
        query.push('&');
    }
    query.push_str("Signature=");
    query.push_str(&percent_encode(&signature));
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::TestHost;

    fn text(pieces: &[Piece], id: &str) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::AccessKeyId => id.to_string(),
            })
            .collect()
    }

    #[test]
    fn percent_encoding_follows_the_spec() {
        // Alibaba's rules are RFC 3986's (the SDK's `sign::percent_encode`, tested there):
        // a space is `%20` (never `+`), `*` is `%2A`, `~` stays.
        assert_eq!(percent_encode("a b*~"), "a%20b%2A~");
    }

    #[test]
    fn timestamps_are_utc_iso8601() {
        assert_eq!(
            timestamp(1_456_231_584_000).expect("ts"),
            "2016-02-23T12:46:24Z"
        );
        assert_eq!(
            timestamp(1_700_000_000_999).expect("ts"),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(timestamp(0).expect("epoch"), "1970-01-01T00:00:00Z");
        assert!(timestamp(u64::MAX).is_err());
    }

    /// The worked example of Alibaba Cloud's RPC signature documentation (ECS
    /// `DescribeRegions`, AccessKeyId `testid`, AccessKeySecret `testsecret`).
    #[test]
    fn matches_the_vendors_published_example() {
        let t = |s: &str| Value::Text(s.to_string());
        let params = vec![
            ("Timestamp".to_string(), t("2016-02-23T12:46:24Z")),
            ("Format".to_string(), t("XML")),
            ("AccessKeyId".to_string(), Value::AccessKeyId),
            ("Action".to_string(), t("DescribeRegions")),
            ("SignatureMethod".to_string(), t("HMAC-SHA1")),
            (
                "SignatureNonce".to_string(),
                t("3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ),
            ("Version".to_string(), t("2014-05-26")),
            ("SignatureVersion".to_string(), t("1.0")),
        ];
        // The host holds the example's keys (outside the gateway, a placeholder is the value).
        let _host = TestHost::new()
            .secret(SECRET_ACCESS_KEY_ID, "testid")
            .secret(SECRET_ACCESS_KEY_SECRET, "testsecret")
            .install();
        let sorted_params = sorted(params.clone());
        let to_sign = string_to_sign("GET", &canonical_query(&sorted_params));
        assert_eq!(
            text(&to_sign, "testid"),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        // The AccessKeyId is a reference, never text.
        assert!(to_sign.contains(&Piece::AccessKeyId));
        assert!(!text(&to_sign, "").contains("testid"));

        let query = signed_query("GET", params).expect("sign");
        assert!(
            query.ends_with("&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D"),
            "{query}"
        );
        assert!(query.starts_with("AccessKeyId=testid&Action=DescribeRegions&Format=XML&"));
        assert!(query.contains("&Timestamp=2016-02-23T12%3A46%3A24Z&"));
    }

    #[test]
    fn signing_needs_both_secrets() {
        let params = vec![("AccessKeyId".to_string(), Value::AccessKeyId)];
        for (present, missing) in [
            (SECRET_ACCESS_KEY_ID, SECRET_ACCESS_KEY_SECRET),
            (SECRET_ACCESS_KEY_SECRET, SECRET_ACCESS_KEY_ID),
        ] {
            let e = TestHost::new()
                .secret(present, "x")
                .run(|| signed_query("GET", params.clone()))
                .expect_err(missing);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains(&format!("`{missing}`")), "{}", e.message);
        }
    }

    #[test]
    fn values_are_encoded_in_query_and_twice_in_the_string_to_sign() {
        let params = vec![
            ("b".to_string(), Value::Text("x y*~".to_string())),
            ("a".to_string(), Value::Text("1/2".to_string())),
            ("AccessKeyId".to_string(), Value::AccessKeyId),
        ];
        let params = sorted(params);
        let canonical = canonical_query(&params);
        assert_eq!(
            canonical,
            vec![
                Piece::Text("AccessKeyId=".into()),
                Piece::AccessKeyId,
                Piece::Text("&a=1%2F2&b=x%20y%2A~".into()),
            ]
        );
        assert_eq!(
            string_to_sign("GET", &canonical),
            vec![
                Piece::Text("GET&%2F&AccessKeyId%3D".into()),
                Piece::AccessKeyId,
                Piece::Text("%26a%3D1%252F2%26b%3Dx%2520y%252A~".into()),
            ]
        );
    }

    #[test]
    fn common_parameters() {
        let p = common_params("A", "2016-11-01", "n-1", "2023-11-14T22:13:20Z");
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Action",
                "Version",
                "Format",
                "AccessKeyId",
                "SignatureMethod",
                "SignatureVersion",
                "SignatureNonce",
                "Timestamp"
            ]
        );
        assert!(p.contains(&("Format".to_string(), Value::Text("JSON".into()))));
        assert!(p.contains(&("AccessKeyId".to_string(), Value::AccessKeyId)));
    }
}
