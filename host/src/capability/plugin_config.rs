//! `ingest:provider/config`: the provider's `[providers.config]` entries and endpoint
//! override, read-only, shared by every call of the provider.

use std::sync::Arc;

use crate::contract;

/// The plugin's view of its provider's configuration.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    /// `[providers.config]` entries as text.
    pub entries: Vec<(String, String)>,
    /// The operator's endpoint override.
    pub endpoint: Option<String>,
}

/// The config capability of one call: a shared reference to the provider's config.
#[derive(Debug, Clone)]
pub(crate) struct ConfigView(pub(crate) Arc<PluginConfig>);

impl contract::config::Host for ConfigView {
    fn get(&mut self, key: String) -> Option<String> {
        self.0
            .entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.0.entries.clone()
    }

    fn endpoint(&mut self) -> Option<String> {
        self.0.endpoint.clone()
    }
}
