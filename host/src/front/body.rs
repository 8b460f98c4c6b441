//! The JSON body of `POST /v1/ingests`, parsed and checked field by field before anything
//! reaches a plugin.

use serde::{Deserialize, Serialize};

use crate::contract::types;
use crate::core::calls::refuse_blank_stream_url;
use crate::error::ApiError;

/// The JSON body of `POST /v1/ingests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Provider instance id.
    pub provider: String,
    /// `pull-in`, `push-in`, `push-out` or `pull-out`.
    pub direction: DirectionJson,
    /// Vendor room id.
    pub room_id: String,
    /// User id for the relay.
    pub user_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Source or destination URL.
    #[serde(default)]
    pub stream_url: Option<String>,
    /// `audio-video` (default), `audio-only` or `video-only`.
    #[serde(default)]
    pub media: Option<MediaJson>,
    /// Vendor callback URL.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Validity of issued addresses / the ingest, seconds.
    #[serde(default)]
    pub expires_in_secs: Option<u32>,
    /// Vendor-specific options (each plugin's README lists its keys).
    #[serde(default)]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A direction as JSON spells it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DirectionJson {
    /// Vendor pulls a URL into the room.
    PullIn,
    /// Encoder pushes to an issued address.
    PushIn,
    /// Vendor pushes the room out.
    PushOut,
    /// Vendor issues a play address.
    PullOut,
}

/// A media kind as JSON spells it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MediaJson {
    /// Audio and video.
    AudioVideo,
    /// Audio only.
    AudioOnly,
    /// Video only.
    VideoOnly,
}

/// Longest id-like field accepted (room, user), bytes.
const MAX_ID_LEN: usize = 256;
/// Longest URL accepted, bytes.
const MAX_URL_LEN: usize = 4096;

fn check_url(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_URL_LEN {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {MAX_URL_LEN} bytes"
        )));
    }
    match url::Url::parse(value) {
        Ok(u) if u.host().is_some() || u.scheme() == "file" => Ok(()),
        Ok(_) => Err(ApiError::invalid(format!(
            "`{field}` has no host: `{value}`"
        ))),
        Err(e) => Err(ApiError::invalid(format!(
            "`{field}` is not a valid URL ({e}): `{value}`"
        ))),
    }
}

impl StartBody {
    /// Parses and checks a start body; errors name the field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let parsed: StartBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("invalid start request body: {e}")))?;
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), ApiError> {
        for (field, value) in [("room_id", &self.room_id), ("user_id", &self.user_id)] {
            if value.trim().is_empty() {
                return Err(ApiError::invalid(format!("`{field}` must not be empty")));
            }
            if value.len() > MAX_ID_LEN {
                return Err(ApiError::invalid(format!(
                    "`{field}` is longer than {MAX_ID_LEN} bytes"
                )));
            }
        }
        if let Some(name) = &self.display_name
            && name.len() > MAX_ID_LEN
        {
            return Err(ApiError::invalid(format!(
                "`display_name` is longer than {MAX_ID_LEN} bytes"
            )));
        }
        refuse_blank_stream_url(self.stream_url.as_deref())?;
        if let Some(u) = &self.stream_url {
            check_url("stream_url", u)?;
        }
        if let Some(u) = &self.callback_url {
            check_url("callback_url", u)?;
        }
        Ok(())
    }

    /// The normalized request the plugin receives.
    pub fn to_request(&self) -> types::StartRequest {
        types::StartRequest {
            direction: match self.direction {
                DirectionJson::PullIn => types::Direction::PullIn,
                DirectionJson::PushIn => types::Direction::PushIn,
                DirectionJson::PushOut => types::Direction::PushOut,
                DirectionJson::PullOut => types::Direction::PullOut,
            },
            room_id: self.room_id.clone(),
            user_id: self.user_id.clone(),
            display_name: self.display_name.clone(),
            stream_url: self.stream_url.clone(),
            media: match self.media.unwrap_or(MediaJson::AudioVideo) {
                MediaJson::AudioVideo => types::MediaKind::AudioVideo,
                MediaJson::AudioOnly => types::MediaKind::AudioOnly,
                MediaJson::VideoOnly => types::MediaKind::VideoOnly,
            },
            callback_url: self.callback_url.clone(),
            expires_in_secs: self.expires_in_secs,
            options_json: options_json(self.options.as_ref()),
        }
    }
}

/// The JSON body of `PATCH /v1/ingests/{id}`: what to change in a running ingest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// A new source (`pull-in`) or destination (`push-out`) URL.
    #[serde(default)]
    pub stream_url: Option<String>,
    /// Vendor-specific changes (each plugin's README lists the keys an update reads).
    #[serde(default)]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
}

impl UpdateBody {
    /// Parses and checks an update body; an update that names no change is refused here,
    /// before any plugin runs.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let parsed: UpdateBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("invalid update request body: {e}")))?;
        refuse_blank_stream_url(parsed.stream_url.as_deref())?;
        if let Some(u) = &parsed.stream_url {
            check_url("stream_url", u)?;
        }
        if parsed.stream_url.is_none() && parsed.options.as_ref().is_none_or(|o| o.is_empty()) {
            return Err(ApiError::invalid(
                "an update must change something: give `stream_url` and/or `options` (the provider's README lists the keys an update reads)",
            ));
        }
        Ok(parsed)
    }

    /// The vendor-specific changes as the contract's JSON text (`{}` when none).
    pub fn options_json(&self) -> String {
        options_json(self.options.as_ref())
    }
}

/// A body's `options` as the contract's `options-json` text (`{}` when there are none).
fn options_json(options: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    options
        .map(|o| serde_json::Value::Object(o.clone()).to_string())
        .unwrap_or_else(|| "{}".to_string())
}
