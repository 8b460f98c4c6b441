//! What the host gives a plugin, one capability a module: the host traits of the
//! `ingest:provider` interfaces, each implemented on its own small piece of a call's store
//! ([`credentials`], [`plugin_config`], [`context`], [`log`]), and the egress path that sends
//! the vendor requests a plugin returns ([`egress`] over the pooled [`vendor`] client, with
//! the call's [`call_log`]); [`secret_scan`] finds secret values, verbatim or percent-encoded,
//! in what vendors and plugins hand back. The call log (`CallLog`: the host's record of a
//! call's egress) is not the plugin's log ([`log`]: the lines a plugin writes).
//!
//! Life cycle: set-up per provider (its secret store, egress policy and client), per call
//! (credentials with placeholders, the call log), per step (the context's nonce sequence).
//! Depends on `contract`, `config` and `error` only.

pub(crate) mod call_log;
pub(crate) mod context;
pub(crate) mod credentials;
pub(crate) mod egress;
pub(crate) mod log;
pub(crate) mod plugin_config;
pub(crate) mod secret_scan;
pub(crate) mod vendor;
