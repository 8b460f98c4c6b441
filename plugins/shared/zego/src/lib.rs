//! What every ZEGOCLOUD server-API plugin shares (`zego-dispatch`, `zego-cloud-player`).
//!
//! ZEGO's server APIs differ in host and return codes, but agree on the rest, which lives here
//! once:
//!
//! - [`settings`]: the `app_id`, `region` and `is_test` config keys and the `endpoint`
//!   override;
//! - [`sign`]: the MD5 signature (`SignatureVersion=2.0`), computed by the host so the plugin
//!   never holds `server_secret`;
//! - [`api`]: one signed call and the `{"Code", "Message", "RequestId", "Data"}` envelope;
//! - [`errors`]: `Code` → error mapping with the codes every API shares, and HTTP failures.
//!
//! A plugin describes its API once as a [`Service`] (host and code table) and calls through it.
//! This is a plain library: it lives under `plugins/shared/`, out of reach of the plugin
//! discovery that builds every `plugins/<name>` crate as a component.

pub mod api;
pub mod errors;
pub mod settings;
pub mod sign;

use ingest_plugin_sdk::error::Meaning;

/// One ZEGO server API: where it lives and what its return codes mean.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The first label of the API's host: `rtc-api` → `rtc-api.zego.im`, or
    /// `rtc-api-{region}.zego.im` with a region.
    pub host_stem: &'static str,
    /// The host without a region, `{host_stem}.zego.im`.
    pub default_host: &'static str,
    /// The API's own `Code` table: what each of its codes means. Codes it does not list are
    /// looked up in [`errors::COMMON_CODES`], the signature codes every API shares.
    pub codes: &'static [Meaning<i64>],
}
