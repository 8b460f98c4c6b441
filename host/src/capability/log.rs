//! `ingest:provider/log`: the plugin's log lines, scrubbed of secret values, clipped, bounded
//! per call, and emitted as `tracing` events under target `plugin` with the provider, the
//! plugin and the request id.

use std::sync::Arc;

use super::credentials::{SecretStore, scrub};
use crate::contract;

/// Most log lines one call may write; further lines are counted and dropped.
pub(crate) const MAX_LOG_LINES_PER_CALL: usize = 200;
/// Longest log line kept, bytes.
const MAX_LOG_LINE_BYTES: usize = 4096;

/// The log capability of one call: kept across its steps.
#[derive(Debug)]
pub(crate) struct PluginLog {
    secrets: Arc<SecretStore>,
    provider: String,
    plugin: String,
    request_id: String,
    /// The lines kept (scrubbed).
    pub(crate) lines: Vec<String>,
    /// Lines dropped past the per-call limit.
    pub(crate) dropped: usize,
}

impl PluginLog {
    /// An empty log for one call.
    pub(crate) fn new(
        secrets: Arc<SecretStore>,
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
        }
    }
}

impl contract::log::Host for PluginLog {
    fn log(&mut self, level: contract::log::Level, message: String) {
        if self.lines.len() >= MAX_LOG_LINES_PER_CALL {
            self.dropped += 1;
            return;
        }
        let message = crate::text::clip(scrub(&self.secrets, &message), MAX_LOG_LINE_BYTES);
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

#[cfg(test)]
mod tests {
    use super::*;
    use contract::log::{Host, Level};

    #[test]
    fn lines_are_scrubbed_clipped_and_bounded() {
        let secrets = Arc::new(SecretStore::from_values([("k", "very-secret-value")]));
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
}
