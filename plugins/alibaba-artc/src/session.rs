//! The session reference: `{ChannelId}:{UserId}`.
//!
//! Channel ids never contain `:` (their alphabet is `[A-Za-z0-9_-]`), so the first `:` splits
//! the two unambiguously whatever the user id holds.

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::error::invalid_argument;

use crate::settings::{MAX_ID_CHARS, is_artc_id};

/// What `status` needs to find the encoder: its channel and user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    /// `ChannelId`.
    pub channel_id: String,
    /// `UserId`.
    pub user_id: String,
}

impl SessionRef {
    /// `{channel}:{user}`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.channel_id, self.user_id)
    }

    /// Parses what [`SessionRef::encode`] wrote.
    pub fn decode(text: &str) -> Result<Self, ProviderError> {
        let bad = || {
            invalid_argument("`session_ref` must be `{channel_id}:{user_id}` as start returned it")
        };
        let (channel, user) = text.split_once(':').ok_or_else(bad)?;
        if !is_artc_id(channel) || user.is_empty() || user.chars().count() > MAX_ID_CHARS {
            return Err(bad());
        }
        Ok(Self {
            channel_id: channel.to_string(),
            user_id: user.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (c, u) in [("room-42", "obs"), ("r", "a:b:c"), ("r_1", "ü ser")] {
            let s = SessionRef {
                channel_id: c.into(),
                user_id: u.into(),
            };
            assert_eq!(SessionRef::decode(&s.encode()).expect("decode"), s);
        }
    }

    #[test]
    fn rejects_garbage() {
        let long = format!("r:{}", "u".repeat(65));
        for bad in ["", "room", ":user", "room:", "ro om:u", long.as_str()] {
            let e = SessionRef::decode(bad).expect_err(bad);
            assert!(e.message.contains("`session_ref`"), "{}", e.message);
        }
    }
}
