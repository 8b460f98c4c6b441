//! A component that does not match the world is refused at load, with what is wrong named.

use crate::support::with_memory_events;
use ingest_gateway::RuntimeConfig;
use ingest_gateway::{LoadError, Runtime};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_calls: 4,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn problems(err: LoadError) -> String {
    err.to_string()
}

#[test]
fn empty_component_names_the_missing_export() {
    let err = runtime()
        .load("empty", b"(component)")
        .expect_err("refused");
    let msg = problems(err);
    assert!(
        msg.contains("missing export `ingest:provider/provider@0.2.2`"),
        "{msg}"
    );
}

#[test]
fn partial_export_names_the_missing_functions() {
    let wat = r#"
      (component
        (core module $m (func (export "d")))
        (core instance $i (instantiate $m))
        (func $d (canon lift (core func $i "d")))
        (instance $p (export "describe" (func $d)))
        (export "ingest:provider/provider@0.2.0" (instance $p)))
    "#;
    let msg = problems(
        runtime()
            .load("partial", wat.as_bytes())
            .expect_err("refused"),
    );
    assert!(
        msg.contains("lacks function(s): start, stop, status, parse-callback"),
        "{msg}"
    );
}

/// A component built against contract 0.1 (its plugins did their own `wasi:http` I/O) is
/// refused at load, naming the version it targets and the one this host serves.
#[test]
fn a_contract_0_1_component_is_refused_with_both_versions() {
    let wat = r#"
      (component
        (import "wasi:http/outgoing-handler@0.2.12" (instance))
        (instance $p)
        (export "ingest:provider/provider@0.1.0" (instance $p)))
    "#;
    let msg = problems(runtime().load("old", wat.as_bytes()).expect_err("refused"));
    assert!(
        msg.contains("exports `ingest:provider/provider@0.1.0`")
            && msg.contains("contract version 0.2.2"),
        "{msg}"
    );
    assert!(
        msg.contains("imports `wasi:http/outgoing-handler@0.2.12`: a contract 0.2.2 plugin makes no network calls"),
        "{msg}"
    );
}

#[test]
fn newer_contract_major_is_named() {
    let wat = r#"
      (component
        (instance $p)
        (export "ingest:provider/provider@2.0.0" (instance $p)))
    "#;
    let msg = problems(
        runtime()
            .load("future", wat.as_bytes())
            .expect_err("refused"),
    );
    assert!(
        msg.contains("provider@2.0.0") && msg.contains("contract version 0.2.2"),
        "{msg}"
    );
}

#[test]
fn unknown_import_is_named() {
    let wat = r#"
      (component
        (import "acme:evil/exfiltrate@1.0.0" (instance))
        (instance $p)
        (export "ingest:provider/provider@0.2.0" (instance $p)))
    "#;
    let msg = problems(runtime().load("evil", wat.as_bytes()).expect_err("refused"));
    assert!(
        msg.contains("imports `acme:evil/exfiltrate@1.0.0`"),
        "{msg}"
    );
}

#[test]
fn core_module_gets_a_hint() {
    let msg = problems(runtime().load("core", b"(module)").expect_err("refused"));
    assert!(msg.contains("not a valid WebAssembly component"), "{msg}");
}

#[test]
fn seed_plugin_loads() {
    let bytes = std::fs::read(ingest_sim::artifacts::plugin("tencent-trtc")).expect("built plugin");
    let plugin = runtime()
        .load("tencent-trtc", &bytes)
        .expect("valid plugin");
    assert_eq!(plugin.digest.len(), 64);
}

/// A component whose provider functions are all there by name, with `describe` as the contract
/// says and the others of other types, passes the world check (names) but is refused when
/// its version is bound: a step type-checks only the function it calls, so `describe` checks
/// every export first, and the error names a mismatch.
#[tokio::test]
async fn an_export_of_another_type_is_refused_when_the_version_is_bound() {
    let bytes = std::fs::read(ingest_sim::artifacts::plugin("test-wrong-export-type"))
        .expect("built test guest");
    runtime()
        .load("wrong", &bytes)
        .expect("names match the world: the world check passes");
    let toml = format!(
        "[gateway]\nauth = \"off\"\n{}",
        crate::support::provider_toml(
            "wrong",
            "test-wrong-export-type",
            "http://127.0.0.1:9",
            "",
            &[],
            &[]
        )
    );
    let config = ingest_gateway::Config::parse(&with_memory_events(&toml)).expect("config");
    let err = match ingest_gateway::Gateway::from_config(config).await {
        Ok(_) => panic!("a component with exports of other types was bound"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("wrong"), "names the provider: {err}");
    assert!(err.contains("type mismatch"), "names the mismatch: {err}");
}

/// A secret catalog (contract 0.2.2) that disagrees with `describe`, or names more secrets than
/// the host takes, is refused when the version is bound, naming the provider and the reason.
#[tokio::test]
async fn a_secret_catalog_that_disagrees_with_describe_is_refused() {
    for (mode, reason) in [
        (
            "catalog-disagrees",
            "marks `api_key` required but describe does not list it",
        ),
        ("catalog-huge", "a list longer than"),
    ] {
        let toml = format!(
            "[gateway]\nauth = \"off\"\n{}",
            crate::support::provider_toml(
                "catalog",
                "test-hostile",
                "http://127.0.0.1:9",
                "",
                &[("mode", &format!("\"{mode}\""))],
                &[]
            )
        );
        let config = ingest_gateway::Config::parse(&with_memory_events(&toml)).expect("config");
        let err = match ingest_gateway::Gateway::from_config(config).await {
            Ok(_) => panic!("{mode}: a version with a bad secret catalog was bound"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("catalog"), "{mode}: names the provider: {err}");
        assert!(err.contains(reason), "{mode}: names the reason: {err}");
    }
}

/// `GET /v1/providers` lists every secret a plugin can use: the required ones and, from its
/// secret catalog (contract 0.2.2), the optional ones, each with whether it is configured and
/// what it is for. A component without a catalog (contract 0.2.0) shows `describe`'s, all
/// required. Names only: no value appears.
#[tokio::test]
async fn providers_list_required_and_optional_secrets() {
    let mut toml = crate::support::trtc_provider("trtc", "http://127.0.0.1:9", "");
    toml.push_str(&format!(
        "callback_key = {{ value = \"{}\" }}\n",
        crate::support::TRTC_CALLBACK_KEY
    ));
    toml.push_str(&crate::support::provider_toml(
        "old",
        "test-contract-0-2-0",
        "http://127.0.0.1:9",
        "",
        &[],
        &[],
    ));
    let gw = crate::support::gateway(&toml).await;
    let a = crate::support::call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let providers = a.json["providers"].as_array().expect("providers");
    let trtc = providers.iter().find(|p| p["id"] == "trtc").expect("trtc");
    let secrets: Vec<(&str, bool, bool)> = trtc["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| {
            assert!(
                s["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{s}"
            );
            (
                s["name"].as_str().expect("name"),
                s["required"].as_bool().expect("required"),
                s["configured"].as_bool().expect("configured"),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        vec![
            ("secret_id", true, true),
            ("secret_key", true, true),
            ("sdk_secret_key", false, false),
            ("callback_key", false, true),
        ]
    );
    for value in [
        crate::support::TRTC_SECRET_ID,
        crate::support::TRTC_SECRET_KEY,
        crate::support::TRTC_CALLBACK_KEY,
    ] {
        assert!(!a.text.contains(value), "a secret's value in the listing");
    }
    let old = providers.iter().find(|p| p["id"] == "old").expect("old");
    assert_eq!(old["secrets"], serde_json::json!([]), "{old}");
}
