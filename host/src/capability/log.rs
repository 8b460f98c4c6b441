//! `ingest:provider/log`: the plugin's log lines, scrubbed of secret values, clipped, with
//! control and bidirectional-override characters escaped (so a plugin cannot start a line that
//! looks like the gateway's own, or reorder what a reader sees), bounded per call in lines and
//! bytes, and emitted as `tracing` events under target `plugin` with the provider, the
//! plugin and the request id.

use std::sync::Arc;

use super::secret_scan::{SecretSet, scrub};
use crate::contract;

/// Most log lines one call may write; further lines are counted and dropped.
pub(crate) const MAX_LOG_LINES_PER_CALL: usize = 200;
/// Longest log line kept, bytes.
const MAX_LOG_LINE_BYTES: usize = 4096;
/// Most bytes of log lines one call may write; further lines are counted and dropped.
pub(crate) const MAX_LOG_BYTES_PER_CALL: usize = 64 * 1024;

/// The log capability of one call: kept across its steps.
#[derive(Debug)]
pub(crate) struct PluginLog {
    /// Every provider's secret values (the gateway's set), scrubbed from each line.
    secrets: Arc<SecretSet>,
    provider: String,
    plugin: String,
    request_id: String,
    /// The lines kept (scrubbed).
    pub(crate) lines: Vec<String>,
    /// Lines dropped past the per-call limits.
    pub(crate) dropped: usize,
    /// Bytes of the lines kept.
    bytes: usize,
}

impl PluginLog {
    /// An empty log for one call.
    pub(crate) fn new(
        secrets: Arc<SecretSet>,
        provider: String,
        plugin: String,
        request_id: String,
    ) -> Self {
        Self {
            secrets,
            provider,
            plugin,
            request_id,
            lines: Vec::new(),
            dropped: 0,
            bytes: 0,
        }
    }
}

impl contract::log::Host for PluginLog {
    fn log(&mut self, level: contract::log::Level, message: String) {
        if self.lines.len() >= MAX_LOG_LINES_PER_CALL {
            self.dropped += 1;
            return;
        }
        let message = escape_controls(&crate::text::clip(
            scrub(&self.secrets, &message),
            MAX_LOG_LINE_BYTES,
        ));
        if self.bytes + message.len() > MAX_LOG_BYTES_PER_CALL {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        let (provider, plugin, request_id) = (&self.provider, &self.plugin, &self.request_id);
        use contract::log::Level;
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
        }
        self.lines.push(message);
    }
}

/// Bidirectional formatting characters (Unicode's Bidi_Control set): they reorder how the rest
/// of a line displays.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `message` with control characters (C0, DEL, C1: newlines and carriage returns included)
/// and bidirectional formatting characters written as escapes (`\n`, `\r`, `\t`, `\0`,
/// `\u{202e}`), and backslashes doubled so an escape cannot be forged either. Text without
/// any is returned unchanged.
fn escape_controls(message: &str) -> String {
    if !message
        .chars()
        .any(|c| c == '\\' || c.is_control() || is_bidi_control(c))
    {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len() + 16);
    for c in message.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::log::{Host, Level};

    #[test]
    fn lines_are_scrubbed_clipped_and_bounded() {
        let secrets = Arc::new(SecretSet::new([b"very-secret-value".as_slice()]));
        let mut log = PluginLog::new(secrets, "p".into(), "x".into(), "r".into());
        log.log(Level::Info, "key is very-secret-value".into());
        assert_eq!(log.lines[0], "key is [redacted]");
        log.log(Level::Info, "x".repeat(MAX_LOG_LINE_BYTES + 10));
        assert!(log.lines[1].len() <= MAX_LOG_LINE_BYTES + '…'.len_utf8());
        for _ in 0..MAX_LOG_LINES_PER_CALL {
            log.log(Level::Debug, "more".into());
        }
        assert_eq!(log.lines.len(), MAX_LOG_LINES_PER_CALL);
        assert_eq!(log.dropped, 2);
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        let forged = "ok\n2026-12-06T00:00:00Z ERROR gateway: forged\r\u{202e}evil\0\u{7}\\n\u{85}";
        let got = escape_controls(forged);
        assert_eq!(
            got,
            "ok\\n2026-12-06T00:00:00Z ERROR gateway: forged\\r\\u{202e}evil\\0\\u{7}\\\\n\\u{85}"
        );
        assert!(!got.chars().any(|c| c.is_control() || is_bidi_control(c)));
        assert_eq!(escape_controls("plain text é 中"), "plain text é 中");
    }

    #[test]
    fn a_calls_log_volume_is_bounded_in_bytes() {
        let mut log = PluginLog::new(Arc::default(), "p".into(), "x".into(), "r".into());
        for _ in 0..100 {
            log.log(Level::Info, "y".repeat(MAX_LOG_LINE_BYTES));
        }
        let kept: usize = log.lines.iter().map(String::len).sum();
        assert!(kept <= MAX_LOG_BYTES_PER_CALL, "{kept}");
        assert_eq!(log.lines.len(), MAX_LOG_BYTES_PER_CALL / MAX_LOG_LINE_BYTES);
        assert_eq!(log.dropped, 100 - log.lines.len());
    }
}
