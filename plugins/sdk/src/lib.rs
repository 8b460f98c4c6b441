//! The guest-side SDK for Ingest Gateway provider plugins written in Rust.
//!
//! A provider plugin is a `wasm32-wasip2` component that targets the
//! `ingest:provider/adapter-plugin-with-update@0.2.2` world in the repository's `wit/`
//! directory (the `adapter-plugin` world plus the optional `updater` and `secret-catalog`
//! exports; a plugin that does not override [`Guest::update`] answers it `unsupported` and
//! leaves `update` out of its operations, one that does not override [`Guest::secrets`] shows
//! the secrets `describe` lists, all required). In that
//! contract a plugin performs no I/O: each of `start`, `stop`, `status` and `update` is called once per
//! *step*, with the vendor's answers so far, and returns either the next vendor request for the
//! host to send or the final result. This SDK hides that shape: a plugin implements the SDK's
//! own [`Guest`] trait with ordinary sequential code that calls [`http::send`], and the glue
//! that [`export!`] generates runs it by **deterministic replay** ([`step`]): at every step the
//! plugin runs from the beginning, its earlier `send`s return the recorded answers, and the
//! first `send` past them suspends the operation with that request.
//!
//! What the crate holds:
//!
//! - the generated bindings (so every plugin shares one copy) and the [`Guest`] trait;
//! - [`http::send`]: a vendor request as [`::http`] types, answered by replay;
//! - [`creds`]: HMACs, digests and placeholders computed by the host over *secret
//!   references*, so the plugin never holds a secret's bytes;
//! - [`sign`]: the secret-free pieces of signature schemes (percent-encoding, constant-time
//!   comparison of signatures);
//! - [`endpoint`]: validating the base URL requests go to (the operator's `endpoint`);
//! - [`error`]: building normalized [`ProviderError`]s, a plugin's table of vendor codes
//!   ([`error::Meaning`]), and the generic HTTP-status fallback;
//! - [`options`]: reading the vendor-specific `options-json` object of a start request;
//! - [`session`]: session references, within the contract's one bound;
//! - [`config_key`], [`required_config`] and [`testing::config_lookup`] for configuration;
//!   [`secret`] and [`required_secrets`] for the secrets a plugin can use.
//!
//! A plugin implements [`Guest`] and exports it:
//!
//! ```no_run
//! use ingest_plugin_sdk::{
//!     Direction, Guest, Operation, ProviderError, ProviderInfo, Session, StartRequest,
//!     config_key, error,
//! };
//!
//! struct MyVendor;
//!
//! impl Guest for MyVendor {
//!     fn describe() -> ProviderInfo {
//!         ProviderInfo {
//!             name: "my-vendor".into(),
//!             version: "0.1.0".into(),
//!             vendor: "My Vendor".into(),
//!             directions: vec![Direction::PullIn],
//!             operations: vec![Operation::Start],
//!             config_keys: vec![config_key("app_id", true, "The application id.")],
//!             secrets: vec!["api_secret".into()],
//!             default_hosts: vec!["api.my-vendor.example:443".into()],
//!         }
//!     }
//!     fn start(request: StartRequest) -> Result<Session, ProviderError> {
//!         // Validate, build the vendor request, sign it with `creds`, send it with `http::send`.
//!         Err(error::invalid_argument(format!("room `{}`: not implemented", request.room_id)))
//!     }
//!     // `stop`, `status` and `parse_callback` default to `unsupported`.
//! }
//!
//! // Only on wasm: a native cdylib cannot carry the component's export names.
//! #[cfg(target_arch = "wasm32")]
//! ingest_plugin_sdk::export!(MyVendor);
//! ```
//!
//! Because every step re-runs the operation from the start, a plugin must be a deterministic
//! function of its input and the answers: take time, nonces and the request id from
//! [`context`] (the host gives the same values at every step of one call, and the nonce
//! sequence starts over at each step), never from a clock or a random source, and keep no
//! state between calls. Then every earlier request is rebuilt exactly (same signature, same
//! nonce) and its recorded answer fits it.
//!
//! Build with `cargo build --target wasm32-wasip2` (the repository's plugins use
//! `--profile plugin`); `ingest-gateway plugin new NAME` writes a complete crate to start from,
//! and `docs/plugin-authoring.md` explains the contract, credentials, egress and testing.
//!
//! The functions that call into the host (the [`creds`], [`config`], [`context`] and [`log`]
//! interfaces) are the component's imports inside the gateway; on the build machine the SDK
//! answers them itself from a [`testing::TestHost`] (secrets, config, clock), computing HMACs
//! and digests as the host does. So a plugin's whole code, signing included, runs in its unit
//! tests; [`http::send`] and [`step::run`] work natively too, so a flow that sends several
//! requests can be unit-tested with recorded answers.

#![deny(missing_docs)]

pub mod creds;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod options;
pub mod session;
pub mod sign;
pub mod step;
pub mod testing;

/// The bindings generated from the `adapter-plugin-with-update` world.
#[allow(missing_docs, clippy::all, reason = "generated by wit-bindgen")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "ingest:provider/adapter-plugin-with-update",
        pub_export_macro: true,
        export_macro_name: "__export_adapter",
        default_bindings_module: "ingest_plugin_sdk::bindings",
    });
}

pub use bindings::exports::ingest::provider::provider::{StartStep, StatusStep, StopStep};
pub use bindings::exports::ingest::provider::secret_catalog::SecretSpec;
pub use bindings::exports::ingest::provider::updater::UpdateStep;
pub use bindings::ingest::provider::types::{
    CallbackRequest, ConfigKey, Direction, ErrorKind, IngestEvent, IngestState, IngestStatus,
    IssuedUrl, MediaKind, Operation, ProviderError, ProviderInfo, Session, StartRequest,
    StatusRequest, StopRequest, StopResult, TransportError, UpdateRequest, UpdateResult,
    UrlPurpose, VendorAnswer, VendorRequest, VendorResponse,
};
/// The host's interfaces: inside the gateway, the component's imports; on the build machine,
/// the same functions answered by [`testing::TestHost`], so a plugin's code and its unit tests
/// call one API.
#[cfg(target_arch = "wasm32")]
pub use bindings::ingest::provider::{config, context, log};
#[cfg(not(target_arch = "wasm32"))]
pub use testing::native::{config, context, log};

/// What a provider plugin implements: the operations of the `provider` interface, written as
/// ordinary functions that send vendor requests with [`http::send`].
///
/// [`export!`] turns an implementation into the component's `provider`, `updater` and
/// `secret-catalog` exports, running `start`, `stop`, `status` and `update` by replay ([`step`]). `stop`,
/// `status`, `update` and `parse_callback` default to an `unsupported` error; override the
/// ones the provider supports (and list them in [`ProviderInfo::operations`]).
pub trait Guest {
    /// What this provider is and can do. Makes no vendor requests.
    fn describe() -> ProviderInfo;

    /// Start an ingest.
    fn start(request: StartRequest) -> Result<Session, ProviderError>;

    /// Stop an ingest. Default: `unsupported`.
    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let _ = request;
        Err(unsupported_operation("stop"))
    }

    /// Query an ingest. Default: `unsupported`.
    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        let _ = request;
        Err(unsupported_operation("status"))
    }

    /// Change a running ingest: `request.stream_url` and the keys of `request.options_json`
    /// the provider documents for an update. Refuse unknown keys and a request that changes
    /// nothing (`options::Options::only`), and return a new `session_ref` when the change
    /// alters what `stop`, `status` or a later update need. Default: `unsupported`.
    fn update(request: UpdateRequest) -> Result<UpdateResult, ProviderError> {
        let _ = request;
        Err(unsupported_operation("update"))
    }

    /// Verify a vendor callback and turn it into a normalized event; makes no vendor
    /// requests. Default: `unsupported`.
    fn parse_callback(request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        let _ = request;
        Err(unsupported_operation("parse-callback"))
    }

    /// Every secret the plugin can use, required and optional, each with what it is for
    /// (contract 0.2.2's `secret-catalog`): what `plugin check` and `GET /v1/providers` show
    /// an operator. Keep one list and derive [`ProviderInfo::secrets`] from it with
    /// [`required_secrets`], so the two agree (the host refuses a version where they do not).
    /// Default: the secrets `describe` lists, all required, without descriptions.
    fn secrets() -> Vec<SecretSpec> {
        Self::describe()
            .secrets
            .into_iter()
            .map(|name| SecretSpec {
                name,
                required: true,
                description: String::new(),
            })
            .collect()
    }
}

/// The `unsupported` error the [`Guest`] defaults answer.
fn unsupported_operation(operation: &str) -> ProviderError {
    error::not_offered(format!("this provider does not support `{operation}`"))
}

/// Exports a type implementing [`Guest`] as this component's `provider` interface.
///
/// ```ignore
/// #[cfg(target_arch = "wasm32")]
/// ingest_plugin_sdk::export!(MyVendor);
/// ```
///
/// The generated glue runs `start`, `stop`, `status` and `update` by replay over the step's answers
/// ([`step`]) and answers the host with the next vendor request or the result.
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        const _: () = {
            struct __IngestPluginExport;

            impl $crate::bindings::exports::ingest::provider::provider::Guest
                for __IngestPluginExport
            {
                fn describe() -> $crate::ProviderInfo {
                    <$ty as $crate::Guest>::describe()
                }

                fn start(
                    request: $crate::StartRequest,
                    answers: ::std::vec::Vec<$crate::VendorAnswer>,
                ) -> $crate::StartStep {
                    $crate::step::start::<$ty>(request, answers)
                }

                fn stop(
                    request: $crate::StopRequest,
                    answers: ::std::vec::Vec<$crate::VendorAnswer>,
                ) -> $crate::StopStep {
                    $crate::step::stop::<$ty>(request, answers)
                }

                fn status(
                    request: $crate::StatusRequest,
                    answers: ::std::vec::Vec<$crate::VendorAnswer>,
                ) -> $crate::StatusStep {
                    $crate::step::status::<$ty>(request, answers)
                }

                fn parse_callback(
                    request: $crate::CallbackRequest,
                ) -> ::std::result::Result<$crate::IngestEvent, $crate::ProviderError> {
                    $crate::step::parse_callback::<$ty>(request)
                }
            }

            impl $crate::bindings::exports::ingest::provider::updater::Guest
                for __IngestPluginExport
            {
                fn update(
                    request: $crate::UpdateRequest,
                    answers: ::std::vec::Vec<$crate::VendorAnswer>,
                ) -> $crate::UpdateStep {
                    $crate::step::update::<$ty>(request, answers)
                }
            }

            impl $crate::bindings::exports::ingest::provider::secret_catalog::Guest
                for __IngestPluginExport
            {
                fn secrets() -> ::std::vec::Vec<$crate::SecretSpec> {
                    <$ty as $crate::Guest>::secrets()
                }
            }

            $crate::bindings::__export_adapter!(__IngestPluginExport with_types_in $crate::bindings);
        };
    };
}

/// Logs a formatted line at `info` level through the host's log interface (once per
/// operation: see [`step::is_live`]; a no-op on the build machine).
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::step::log_now() {
            $crate::log::log($crate::log::Level::Info, &format!($($arg)*))
        }
    };
}

/// Logs a formatted line at `warn` level through the host's log interface (once per
/// operation: see [`step::is_live`]; a no-op on the build machine).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        if $crate::step::log_now() {
            $crate::log::log($crate::log::Level::Warn, &format!($($arg)*))
        }
    };
}

/// Logs a formatted line at `debug` level through the host's log interface (once per
/// operation: see [`step::is_live`]; a no-op on the build machine).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::step::log_now() {
            $crate::log::log($crate::log::Level::Debug, &format!($($arg)*))
        }
    };
}

/// A [`ProviderInfo`] whose `name` and `version` are the plugin crate's package name and
/// version (`Cargo.toml` is the one place they are written); the other fields as given.
///
/// ```
/// use ingest_plugin_sdk::{Direction, Operation, provider_info};
///
/// let info = provider_info! {
///     vendor: "My Vendor",
///     directions: vec![Direction::PullIn],
///     operations: vec![Operation::Start],
///     config_keys: Vec::new(),
///     secrets: vec!["api_secret".into()],
///     default_hosts: vec!["api.my-vendor.example:443".into()],
/// };
/// assert_eq!(info.name, env!("CARGO_PKG_NAME"));
/// assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
/// ```
#[macro_export]
macro_rules! provider_info {
    (vendor: $vendor:expr, $($field:ident: $value:expr),* $(,)?) => {
        $crate::ProviderInfo {
            name: ::std::string::String::from(env!("CARGO_PKG_NAME")),
            version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
            vendor: ::std::string::String::from($vendor),
            $($field: $value),*
        }
    };
}

/// A config key declaration for [`ProviderInfo::config_keys`].
pub fn config_key(name: &str, required: bool, description: &str) -> ConfigKey {
    ConfigKey {
        name: name.to_string(),
        required,
        description: description.to_string(),
    }
}

/// A secret declaration for [`Guest::secrets`].
pub fn secret(name: &str, required: bool, description: &str) -> SecretSpec {
    SecretSpec {
        name: name.to_string(),
        required,
        description: description.to_string(),
    }
}

/// The names of the required secrets in `catalog`, in order: [`ProviderInfo::secrets`].
pub fn required_secrets(catalog: &[SecretSpec]) -> Vec<String> {
    catalog
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name.clone())
        .collect()
}

/// A required config key's value, or an `invalid-argument` error naming the key.
pub fn required_config(key: &str) -> Result<String, ProviderError> {
    match config::get(key) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(error::invalid_argument(format!(
            "provider config key `{key}` is not set; add `{key} = \"…\"` under [providers.config]"
        ))),
    }
}

impl Direction {
    /// The gateway's name for the direction: `pull-in`, `push-in`, `push-out`, `pull-out`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::PullIn => "pull-in",
            Direction::PushIn => "push-in",
            Direction::PushOut => "push-out",
            Direction::PullOut => "pull-out",
        }
    }
}

impl MediaKind {
    /// The gateway's name for the media kind: `audio-video`, `audio-only`, `video-only`.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::AudioVideo => "audio-video",
            MediaKind::AudioOnly => "audio-only",
            MediaKind::VideoOnly => "video-only",
        }
    }
}
