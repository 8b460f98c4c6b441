//! The session reference: compact JSON `{"channel_id":…,"user_id":…,"expires_at":…}`.
//!
//! `expires_at` is when the issued address stops working (Unix seconds, the session's
//! `expires_at`): `status` needs it to tell an address nobody pushed to yet (`starting`) from
//! one that has expired (`not-found`).
//!
//! Earlier versions wrote `{ChannelId}:{UserId}` without the expiry; those references are
//! still read (channel ids never contain `:` or start with `{`, so the first `:` splits the
//! two unambiguously whatever the user id holds), with `expires_at` unknown.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ProviderError, session};
use serde::{Deserialize, Serialize};

use crate::settings::{MAX_ID_CHARS, is_artc_id};

/// What a reference holds, in both formats, for the client when one is not ours.
const SHAPE: &str = "the reference start returned (`{\"channel_id\":…,\"user_id\":…,\
                     \"expires_at\":…}`, or `{channel_id}:{user_id}` from an earlier plugin \
                     version)";

/// What `status` needs to find the encoder: its channel and user id, and when the address
/// expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    /// `ChannelId`.
    pub channel_id: String,
    /// `UserId`.
    pub user_id: String,
    /// When the issued address expires, Unix seconds; `None` for a reference written by an
    /// earlier version (`{channel}:{user}`).
    pub expires_at: Option<u64>,
}

/// The JSON form, fields in the order written.
#[derive(Serialize, Deserialize)]
struct Wire {
    channel_id: String,
    user_id: String,
    expires_at: u64,
}

/// The refusal of a reference that is not one this plugin wrote, in the SDK's words
/// (`session::decode`'s).
fn not_ours() -> ProviderError {
    invalid_argument(format!(
        "`session_ref` is not one this plugin produced; it must be {SHAPE}"
    ))
}

impl SessionRef {
    /// `{"channel_id":"…","user_id":"…","expires_at":N}` (fixed field order; without
    /// `expires_at`, the legacy `{channel}:{user}`).
    pub fn encode(&self) -> Result<String, ProviderError> {
        match self.expires_at {
            Some(expires_at) => session::encode(
                &Wire {
                    channel_id: self.channel_id.clone(),
                    user_id: self.user_id.clone(),
                    expires_at,
                },
                "`room_id` and `options.user_id`",
            ),
            None => Ok(format!("{}:{}", self.channel_id, self.user_id)),
        }
    }

    /// Parses what [`SessionRef::encode`] wrote, in either format.
    pub fn decode(text: &str) -> Result<Self, ProviderError> {
        if text.starts_with('{') {
            let wire: Wire = session::decode(text, SHAPE)?;
            if !is_artc_id(&wire.channel_id) || !is_artc_id(&wire.user_id) {
                return Err(not_ours());
            }
            return Ok(Self {
                channel_id: wire.channel_id,
                user_id: wire.user_id,
                expires_at: Some(wire.expires_at),
            });
        }
        // Legacy: `{channel}:{user}`, where the user id was any 1..=64 characters.
        let (channel, user) = text.split_once(':').ok_or_else(not_ours)?;
        if !is_artc_id(channel) || user.is_empty() || user.chars().count() > MAX_ID_CHARS {
            return Err(not_ours());
        }
        Ok(Self {
            channel_id: channel.to_string(),
            user_id: user.to_string(),
            expires_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = SessionRef {
            channel_id: "room-42".into(),
            user_id: "obs-1".into(),
            expires_at: Some(1_700_036_000),
        };
        let text = s.encode().expect("fits");
        assert_eq!(
            text,
            r#"{"channel_id":"room-42","user_id":"obs-1","expires_at":1700036000}"#
        );
        assert_eq!(SessionRef::decode(&text).expect("decode"), s);
        // Field order does not matter when reading.
        assert_eq!(
            SessionRef::decode(
                r#"{"expires_at":1700036000,"user_id":"obs-1","channel_id":"room-42"}"#
            )
            .expect("decode"),
            s
        );
    }

    #[test]
    fn reads_legacy_references() {
        for (text, c, u) in [
            ("room-42:obs", "room-42", "obs"),
            ("r:a:b:c", "r", "a:b:c"),
            ("r_1:ü ser", "r_1", "ü ser"),
        ] {
            let s = SessionRef::decode(text).expect(text);
            assert_eq!(
                s,
                SessionRef {
                    channel_id: c.into(),
                    user_id: u.into(),
                    expires_at: None
                }
            );
            assert_eq!(s.encode().expect("fits"), text);
        }
    }

    #[test]
    fn rejects_garbage() {
        let long = format!("r:{}", "u".repeat(65));
        for bad in [
            "",
            "room",
            ":user",
            "room:",
            "ro om:u",
            long.as_str(),
            "{",
            "{}",
            r#"{"channel_id":"r","user_id":"u"}"#,
            r#"{"channel_id":"r","user_id":"u","expires_at":-1}"#,
            r#"{"channel_id":"r","user_id":"u","expires_at":"1"}"#,
            r#"{"channel_id":"r","user_id":"u s","expires_at":1}"#,
            r#"{"channel_id":"r:x","user_id":"u","expires_at":1}"#,
            r#"["r","u",1]"#,
        ] {
            let e = SessionRef::decode(bad).expect_err(bad);
            assert!(e.message.contains("`session_ref`"), "{}", e.message);
            assert!(
                e.message.contains("`{channel_id}:{user_id}`"),
                "{}",
                e.message
            );
        }
    }
}
