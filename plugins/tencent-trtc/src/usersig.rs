//! UserSig (TLSSigAPIv2): the ticket TRTC needs for the relay robot's `UserId`, generated from
//! the application's SDKSecretKey as Tencent documents it.
//!
//! 1. `content = "TLS.identifier:" UserId "\n" "TLS.sdkappid:" SdkAppId "\n" "TLS.time:" now "\n"
//!    "TLS.expire:" expire "\n"` ([`content`]);
//! 2. `TLS.sig = base64(HMAC-SHA256(key = SDKSecretKey, content))` — the only step that needs
//!    the key, computed by the host over the secret [`SECRET_SDK_KEY`]
//!    ([`secret_hmac_sha256`]), so the plugin never holds it;
//! 3. the JSON document `{"TLS.ver": "2.0", "TLS.identifier", "TLS.sdkappid", "TLS.expire",
//!    "TLS.time", "TLS.sig"}` ([`document`]);
//! 4. zlib, base64, then `+` → `*`, `/` → `-`, `=` → `_` ([`encode`], [`url_safe`]).
//!
//! A PrivateMapKey is the same ticket with a `TLS.userbuf`: a binary permission record
//! ([`user_buf`]: version, user id, SdkAppId, room, absolute expiry, privilege bits, account
//! type; big-endian, as Tencent's official TLSSigAPIv2 libraries lay it out), whose standard
//! base64 is also signed (`"TLS.userbuf:" base64 "\n"` after the expiry line).
//! All of it is unit-tested, the HMAC answered by the SDK's `TestHost` there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ErrorKind, ProviderError, error};
use serde::Serialize;

use crate::sign::secret_hmac_sha256;

/// The secret holding the TRTC application's SDKSecretKey (optional: without it every start
/// needs `options.user_sig`).
pub const SECRET_SDK_KEY: &str = "sdk_secret_key";
/// `TLS.ver`.
pub const VERSION: &str = "2.0";
/// zlib level 6, zlib's own default, as the official libraries compress.
const ZLIB_LEVEL: u8 = 6;

/// What a UserSig says, besides its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket<'a> {
    /// `TLS.identifier`: the `UserId` it is for.
    pub user_id: &'a str,
    /// `TLS.sdkappid`.
    pub sdk_app_id: u64,
    /// `TLS.time`: when it was made, Unix seconds.
    pub time: u64,
    /// `TLS.expire`: how long it stays valid after `time`, seconds.
    pub expire: u64,
    /// `TLS.userbuf` (a PrivateMapKey's permission record), or none for a UserSig.
    pub user_buf: Option<&'a [u8]>,
}

/// The room a PrivateMapKey opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room<'a> {
    /// An integer room id (`RoomIdType` 1).
    Integer(u32),
    /// A string room id (`RoomIdType` 0).
    Str(&'a str),
}

/// A PrivateMapKey's permission record: version (0 for an integer room, 1 for a string
/// room), the user id's length (u16) and bytes, SdkAppId (u32), the integer room id (u32; 0
/// for a string room), the absolute expiry in Unix seconds (u32), the privilege bits (u32),
/// the account type (u32, 0), then for a string room its length (u16) and bytes; every
/// number big-endian.
pub fn user_buf(
    user_id: &str,
    sdk_app_id: u64,
    room: Room<'_>,
    expires_at: u64,
    privileges: u32,
) -> Vec<u8> {
    let (version, room_id, room_str) = match room {
        Room::Integer(id) => (0u8, id, ""),
        Room::Str(s) => (1u8, 0, s),
    };
    let mut buf = Vec::with_capacity(27 + user_id.len() + room_str.len());
    buf.push(version);
    // User and room ids are checked far below 64 KiB; the record's fields are this wide.
    buf.extend_from_slice(&(user_id.len() as u16).to_be_bytes());
    buf.extend_from_slice(user_id.as_bytes());
    buf.extend_from_slice(&(sdk_app_id as u32).to_be_bytes());
    buf.extend_from_slice(&room_id.to_be_bytes());
    buf.extend_from_slice(&(expires_at as u32).to_be_bytes());
    buf.extend_from_slice(&privileges.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes());
    if version == 1 {
        buf.extend_from_slice(&(room_str.len() as u16).to_be_bytes());
        buf.extend_from_slice(room_str.as_bytes());
    }
    buf
}

/// The text `TLS.sig` is the HMAC of.
pub fn content(t: &Ticket<'_>) -> String {
    let mut text = format!(
        "TLS.identifier:{}\nTLS.sdkappid:{}\nTLS.time:{}\nTLS.expire:{}\n",
        t.user_id, t.sdk_app_id, t.time, t.expire
    );
    if let Some(buf) = t.user_buf {
        text.push_str(&format!("TLS.userbuf:{}\n", STANDARD.encode(buf)));
    }
    text
}

/// The signed document, in the official libraries' field order.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "TLS.ver")]
    ver: &'static str,
    #[serde(rename = "TLS.identifier")]
    identifier: &'a str,
    #[serde(rename = "TLS.sdkappid")]
    sdkappid: u64,
    #[serde(rename = "TLS.expire")]
    expire: u64,
    #[serde(rename = "TLS.time")]
    time: u64,
    #[serde(rename = "TLS.userbuf", skip_serializing_if = "Option::is_none")]
    userbuf: Option<String>,
    #[serde(rename = "TLS.sig")]
    sig: &'a str,
}

/// The JSON document for `t` with `sig` (the base64 HMAC), compact.
pub fn document(t: &Ticket<'_>, sig: &str) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(&Document {
        ver: VERSION,
        identifier: t.user_id,
        sdkappid: t.sdk_app_id,
        expire: t.expire,
        time: t.time,
        userbuf: t.user_buf.map(|b| STANDARD.encode(b)),
        sig,
    })
    .map_err(|e| {
        error::new(
            ErrorKind::PluginFault,
            format!("the plugin could not encode the UserSig document: {e}"),
        )
    })
}

/// Tencent's URL-safe base64 alphabet: `+` → `*`, `/` → `-`, `=` → `_`.
pub fn url_safe(base64: &str) -> String {
    base64
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// The UserSig text for a document: zlib, base64, [`url_safe`].
pub fn encode(document: &[u8]) -> String {
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(document, ZLIB_LEVEL);
    url_safe(&STANDARD.encode(compressed))
}

/// A UserSig for `t`, signed with the secret [`SECRET_SDK_KEY`] by the host.
///
/// Without that secret: `invalid-argument` naming both ways to give the start a UserSig.
pub fn generate(t: &Ticket<'_>) -> Result<String, ProviderError> {
    let mac = secret_hmac_sha256(SECRET_SDK_KEY, content(t).as_bytes())?.ok_or_else(no_user_sig)?;
    let sig = STANDARD.encode(mac);
    Ok(encode(&document(t, &sig)?))
}

/// The error when a start has neither `options.user_sig` nor the secret to make one.
pub fn no_user_sig() -> ProviderError {
    invalid_argument(format!(
        "no UserSig for `user_id` (the relay robot): `options.user_sig` is not set and the \
         provider has no secret `{SECRET_SDK_KEY}`. Either pass a UserSig generated for \
         `user_id` as `options.user_sig`, or let the gateway generate one: add the TRTC \
         application's SDKSecretKey as `{SECRET_SDK_KEY} = {{ env = \"…\" }}` under \
         [providers.secrets]"
    ))
}

/// Where a start's UserSig comes from when `options.user_sig` is absent.
pub trait UserSigSource {
    /// A UserSig for `user_id`, or the error saying why there is none.
    fn user_sig(&self, user_id: &str) -> Result<String, ProviderError>;

    /// A PrivateMapKey for `user_id` in `room` when the provider is configured to make one
    /// (`private_map_privileges`), else none.
    fn private_map_key(
        &self,
        user_id: &str,
        room: Room<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let _ = (user_id, room);
        Ok(None)
    }
}

/// UserSigs generated from the secret [`SECRET_SDK_KEY`] at the call's time.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    /// `TLS.sdkappid`.
    pub sdk_app_id: u64,
    /// `TLS.time`: the call context's clock, Unix seconds (never the plugin's own clock, so
    /// every step of one call rebuilds the same body).
    pub now_secs: u64,
    /// `TLS.expire`, seconds (the provider config key `user_sig_expire_secs`).
    pub expire_secs: u64,
    /// The privilege bits of a generated PrivateMapKey (the provider config key
    /// `private_map_privileges`); none: no PrivateMapKey is generated.
    pub private_map_privileges: Option<u32>,
}

impl UserSigSource for Generated {
    fn user_sig(&self, user_id: &str) -> Result<String, ProviderError> {
        generate(&Ticket {
            user_id,
            sdk_app_id: self.sdk_app_id,
            time: self.now_secs,
            expire: self.expire_secs,
            user_buf: None,
        })
    }

    fn private_map_key(
        &self,
        user_id: &str,
        room: Room<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(privileges) = self.private_map_privileges else {
            return Ok(None);
        };
        let expires_at = self.now_secs + self.expire_secs;
        let buf = user_buf(user_id, self.sdk_app_id, room, expires_at, privileges);
        let ticket = Ticket {
            user_id,
            sdk_app_id: self.sdk_app_id,
            time: self.now_secs,
            expire: self.expire_secs,
            user_buf: Some(&buf),
        };
        generate(&ticket).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::{Installed, TestHost};

    const TICKET: Ticket<'static> = Ticket {
        user_id: "relay-bot",
        sdk_app_id: 1_400_188_366,
        time: 1_700_000_000,
        expire: 15_552_000,
        user_buf: None,
    };
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    /// A host holding the SDKSecretKey, installed until the guard drops.
    fn key() -> Installed {
        TestHost::new().secret(SECRET_SDK_KEY, KEY).install()
    }

    /// Undoes [`encode`] (test only: the plugin never reads a UserSig).
    fn decode(sig: &str) -> Vec<u8> {
        let b64: String = sig
            .chars()
            .map(|c| match c {
                '*' => '+',
                '-' => '/',
                '_' => '=',
                c => c,
            })
            .collect();
        let compressed = STANDARD.decode(b64).expect("base64");
        miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).expect("zlib")
    }

    #[test]
    fn content_string() {
        assert_eq!(
            content(&TICKET),
            "TLS.identifier:relay-bot\nTLS.sdkappid:1400188366\nTLS.time:1700000000\n\
             TLS.expire:15552000\n"
        );
    }

    #[test]
    fn document_fields_and_order() {
        let doc = document(&TICKET, "c2ln").expect("json");
        assert_eq!(
            String::from_utf8(doc).expect("utf-8"),
            r#"{"TLS.ver":"2.0","TLS.identifier":"relay-bot","TLS.sdkappid":1400188366,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"c2ln"}"#
        );
    }

    #[test]
    fn url_safe_alphabet() {
        assert_eq!(url_safe("ab+/c=="), "ab*-c__");
        assert_eq!(url_safe("AZaz09"), "AZaz09");
        assert_eq!(url_safe(""), "");
        // Every byte value: nothing of `+`, `/`, `=` is left, the rest is untouched.
        let all: Vec<u8> = (0..=255).collect();
        let safe = url_safe(&STANDARD.encode(&all));
        assert!(!safe.contains(['+', '/', '=']), "{safe}");
        assert!(safe.contains('*') && safe.contains('-') && safe.contains('_'));
    }

    /// A vector computed independently with Python's hmac, hashlib and base64 (the official
    /// Python library's algorithm):
    /// `base64.b64encode(hmac.new(KEY.encode(), content.encode(), hashlib.sha256).digest())`.
    #[test]
    fn hmac_matches_an_independent_implementation() {
        let _host = key();
        let mac = secret_hmac_sha256(SECRET_SDK_KEY, content(&TICKET).as_bytes())
            .expect("hmac")
            .expect("configured");
        assert_eq!(
            STANDARD.encode(mac),
            "t0OaWs54o1cGgsaDNKq9P+8hmiTfYqmNNWSH0TL7G6M="
        );
    }

    /// The whole UserSig: it inflates to the document with the independent HMAC, and its text
    /// is stable. The pinned text was decoded and checked with Python (`zlib.decompress` of the
    /// base64 with `*-_` mapped back, then the HMAC recomputed over the content string). Python's
    /// own `zlib.compress` of the same document gives other (equally valid) bytes, so the pin
    /// is this implementation's, not a cross-implementation vector.
    #[test]
    fn generated_user_sig() {
        let _host = key();
        let sig = generate(&TICKET).expect("generated");
        assert!(
            sig.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'_')),
            "{sig}"
        );
        assert_eq!(
            String::from_utf8(decode(&sig)).expect("utf-8"),
            r#"{"TLS.ver":"2.0","TLS.identifier":"relay-bot","TLS.sdkappid":1400188366,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"t0OaWs54o1cGgsaDNKq9P+8hmiTfYqmNNWSH0TL7G6M="}"#
        );
        assert_eq!(
            sig,
            "eJwtjNEKgjAYRt9lt5X8mlMTugsMMgsUpMvVpv3Ucm4jiujdM913950D50OqvPSeQpOUBB6Q*fiRi4fFBkesxZ29F*fOOmn4jSmFnKR*COAnyTKKJiNeCrUYOKU0AICJWpR-FoObq2A7tC0cWG1o2PmXrDVsU*z61XGWXCVWzamXRVGXW6jyOIv2a-L9ARSMMkk_"
        );
        // Deterministic: every step of one call rebuilds the same body.
        assert_eq!(generate(&TICKET).expect("again"), sig);
    }

    #[test]
    fn without_the_secret_both_fixes_are_named() {
        let e = TestHost::new()
            .run(|| generate(&TICKET))
            .expect_err("no key");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        for needle in [
            "`options.user_sig`",
            "`sdk_secret_key`",
            "[providers.secrets]",
        ] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn generated_source_uses_the_call_clock_and_expiry() {
        let _host = key();
        let source = Generated {
            sdk_app_id: TICKET.sdk_app_id,
            now_secs: TICKET.time,
            expire_secs: TICKET.expire,
            private_map_privileges: None,
        };
        assert_eq!(
            source.user_sig("relay-bot").expect("sig"),
            generate(&TICKET).expect("sig")
        );
        let other = Generated {
            expire_secs: 60,
            ..source
        };
        let doc = decode(&other.user_sig("relay-bot").expect("sig"));
        let doc: serde_json::Value = serde_json::from_slice(&doc).expect("json");
        assert_eq!(doc["TLS.expire"], 60);
        assert_eq!(doc["TLS.time"], 1_700_000_000u64);
        assert_eq!(doc["TLS.identifier"], "relay-bot");
    }

    #[test]
    fn user_buf_layout() {
        let buf = user_buf("bot", 1_400_000_001, Room::Integer(42), 1_700_000_300, 255);
        let mut want = vec![0u8, 0, 3];
        want.extend_from_slice(b"bot");
        want.extend_from_slice(&1_400_000_001u32.to_be_bytes());
        want.extend_from_slice(&42u32.to_be_bytes());
        want.extend_from_slice(&1_700_000_300u32.to_be_bytes());
        want.extend_from_slice(&255u32.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(buf, want);

        let buf = user_buf("bot", 7, Room::Str("lobby"), 9, 42);
        assert_eq!(buf[0], 1, "version 1 for a string room");
        assert_eq!(&buf[10..14], &[0, 0, 0, 0], "no integer room");
        assert_eq!(&buf[buf.len() - 7..], b"\0\x05lobby");
    }

    #[test]
    fn private_map_key_signs_its_user_buf() {
        let _host = key();
        let mut source = Generated {
            sdk_app_id: TICKET.sdk_app_id,
            now_secs: TICKET.time,
            expire_secs: 300,
            private_map_privileges: None,
        };
        assert_eq!(
            source
                .private_map_key("relay-bot", Room::Integer(42))
                .expect("none"),
            None
        );
        source.private_map_privileges = Some(22);
        let pmk = source
            .private_map_key("relay-bot", Room::Integer(42))
            .expect("made")
            .expect("some");
        let doc: serde_json::Value = serde_json::from_slice(&decode(&pmk)).expect("json");
        let buf = STANDARD
            .decode(doc["TLS.userbuf"].as_str().expect("userbuf"))
            .expect("base64");
        assert_eq!(
            buf,
            user_buf(
                "relay-bot",
                TICKET.sdk_app_id,
                Room::Integer(42),
                TICKET.time + 300,
                22
            )
        );
        let ticket = Ticket {
            user_id: "relay-bot",
            sdk_app_id: TICKET.sdk_app_id,
            time: TICKET.time,
            expire: 300,
            user_buf: Some(&buf),
        };
        assert!(content(&ticket).ends_with(&format!("TLS.userbuf:{}\n", STANDARD.encode(&buf))));
        let mac = secret_hmac_sha256(SECRET_SDK_KEY, content(&ticket).as_bytes())
            .expect("hmac")
            .expect("configured");
        assert_eq!(doc["TLS.sig"], STANDARD.encode(mac));
    }
}
