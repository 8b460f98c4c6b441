//! Helpers for a plugin's unit tests on the build machine: a [`TestHost`] that answers the
//! host's interfaces (secrets, config, clock), config lookups, and the check that `describe`
//! lists exactly the operations the plugin implements.

use std::cell::Cell;

use crate::{CallbackRequest, Guest, Operation, StatusRequest, StopRequest, UpdateRequest};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{Installed, TestHost, logged};

thread_local! {
    /// Set when one of the [`Guest`] trait's `unsupported` defaults, or `error::not_offered`,
    /// answers.
    static DEFAULT_ANSWERED: Cell<bool> = const { Cell::new(false) };
}

/// Called by the [`Guest`] defaults and `error::not_offered`.
pub(crate) fn note_default_answered() {
    DEFAULT_ANSWERED.set(true);
}

/// The optional operations `G` implements itself (`stop`, `status`, `update`,
/// `parse-callback`; `start` is required): each is called once with an empty request, under a
/// default [`TestHost`], and counts unless the SDK's `unsupported` default (or
/// [`error::not_offered`](crate::error::not_offered), the same answer with the plugin's own
/// explanation) answered it. What the plugin's own code answers otherwise (an error for the
/// empty request, a panic) does not matter.
pub fn implemented_operations<G: Guest>() -> Vec<Operation> {
    let probes: [(Operation, fn()); 4] = [
        (Operation::Stop, || {
            let _ = G::stop(StopRequest {
                session_ref: String::new(),
            });
        }),
        (Operation::Status, || {
            let _ = G::status(StatusRequest {
                session_ref: String::new(),
            });
        }),
        (Operation::Update, || {
            let _ = G::update(UpdateRequest {
                session_ref: String::new(),
                stream_url: None,
                options_json: String::new(),
            });
        }),
        (Operation::ParseCallback, || {
            let _ = G::parse_callback(CallbackRequest {
                headers: Vec::new(),
                query: String::new(),
                body: Vec::new(),
            });
        }),
    ];
    let mut implemented = vec![Operation::Start];
    for (operation, probe) in probes {
        DEFAULT_ANSWERED.set(false);
        #[cfg(not(target_arch = "wasm32"))]
        let _host = TestHost::new().install();
        // A panic is the plugin's own code failing on an empty request: implemented.
        let _ = std::panic::catch_unwind(probe);
        if !DEFAULT_ANSWERED.get() {
            implemented.push(operation);
        }
    }
    implemented
}

/// Panics, naming the difference, unless `G::describe().operations` lists exactly the
/// operations `G` implements ([`implemented_operations`]), in any order. Every plugin's tests
/// call it, so the list cannot drift from the code:
///
/// ```
/// use ingest_plugin_sdk::{Guest, Operation, ProviderError, ProviderInfo, Session, StartRequest, error};
///
/// struct Plugin;
/// impl Guest for Plugin {
///     fn describe() -> ProviderInfo {
///         ProviderInfo {
///             name: "p".into(), version: "0.1.0".into(), vendor: "v".into(),
///             directions: Vec::new(), operations: vec![Operation::Start, Operation::Stop],
///             config_keys: Vec::new(), secrets: Vec::new(), default_hosts: Vec::new(),
///         }
///     }
///     fn start(_: StartRequest) -> Result<Session, ProviderError> {
///         Err(error::invalid_argument("no"))
///     }
/// }
/// // `stop` is listed but left to the SDK's default:
/// let drift = std::panic::catch_unwind(ingest_plugin_sdk::testing::assert_operations_implemented::<Plugin>);
/// assert!(drift.is_err());
/// ```
pub fn assert_operations_implemented<G: Guest>() {
    let implemented = implemented_operations::<G>();
    let listed = G::describe().operations;
    let unlisted: Vec<_> = implemented.iter().filter(|o| !listed.contains(o)).collect();
    let not_implemented: Vec<_> = listed.iter().filter(|o| !implemented.contains(o)).collect();
    assert!(
        unlisted.is_empty() && not_implemented.is_empty(),
        "describe().operations is {listed:?}, but the plugin implements {implemented:?}: \
         implemented and not listed {unlisted:?}, listed and left to the SDK's default \
         {not_implemented:?}"
    );
}

/// A config lookup over fixed `(key, value)` pairs, standing in for
/// [`config::get`](crate::config::get) where a plugin's settings take the lookup as a closure:
///
/// ```
/// let get = ingest_plugin_sdk::testing::config_lookup(&[("app_id", "42")]);
/// assert_eq!(get("app_id").as_deref(), Some("42"));
/// assert_eq!(get("region"), None);
/// ```
pub fn config_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

/// The declared config keys as `(name, required)` pairs, for asserting on `describe`:
///
/// ```
/// use ingest_plugin_sdk::{ProviderInfo, config_key, testing::config_key_flags};
///
/// let info = ProviderInfo {
///     name: "p".into(), version: "0.1.0".into(), vendor: "v".into(),
///     directions: Vec::new(), operations: Vec::new(),
///     config_keys: vec![config_key("app_id", true, "…"), config_key("region", false, "…")],
///     secrets: Vec::new(), default_hosts: Vec::new(),
/// };
/// assert_eq!(config_key_flags(&info), vec![("app_id", true), ("region", false)]);
/// ```
pub fn config_key_flags(info: &crate::ProviderInfo) -> Vec<(&str, bool)> {
    info.config_keys
        .iter()
        .map(|k| (k.name.as_str(), k.required))
        .collect()
}
