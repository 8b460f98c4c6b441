//! A component that does not match the world is refused at load, with what is wrong named.

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
        msg.contains("missing export `ingest:provider/provider@0.2.1`"),
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
            && msg.contains("contract version 0.2.1"),
        "{msg}"
    );
    assert!(
        msg.contains("imports `wasi:http/outgoing-handler@0.2.12`: a contract 0.2.1 plugin makes no network calls"),
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
        msg.contains("provider@2.0.0") && msg.contains("contract version 0.2.1"),
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
    let config = ingest_gateway::Config::parse(&toml).expect("config");
    let err = match ingest_gateway::Gateway::from_config(config).await {
        Ok(_) => panic!("a component with exports of other types was bound"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("wrong"), "names the provider: {err}");
    assert!(err.contains("type mismatch"), "names the mismatch: {err}");
}
