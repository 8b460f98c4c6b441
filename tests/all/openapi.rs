//! `docs/openapi.json` against the server: every documented operation is routed and answers
//! a documented status, the server's route list and the document agree, and real answers
//! carry every field the schemas require.

use serde_json::Value;

use crate::support::*;

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Checks `value` has every required field of `schema`, recursively.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(spec, schema);
    if let Some(required) = schema["required"].as_array() {
        for field in required.iter().filter_map(Value::as_str) {
            assert!(
                value.get(field).is_some(),
                "{at}: required `{field}` missing in {value}"
            );
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                conforms(spec, s, v, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            conforms(spec, items, v, &format!("{at}[{i}]"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
    }
}

fn operations(spec: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops.sort();
    ops
}

#[test]
fn the_document_and_the_server_list_the_same_routes() {
    let mut server: Vec<(String, String)> = ingest_gateway::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    server.sort();
    assert_eq!(operations(&spec()), server);
}

#[tokio::test]
async fn every_documented_operation_answers_a_documented_status() {
    let spec = spec();
    let sim = trtc_sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    // PATCH gets an ingest of its own: DELETE (sorted first) stops `id`.
    let patched = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "3"))).await;
    let patched = patched.json["id"].as_str().expect("id").to_string();

    for (method, template) in operations(&spec) {
        if template == "/v1/events" {
            // Streaming: answered before buffering, checked in events.rs.
            let parts = http::Request::get("/v1/events")
                .body(())
                .expect("req")
                .into_parts()
                .0;
            assert!(ingest_gateway::stream_route(&gw, &parts).is_some());
            continue;
        }
        let path = template
            .replace("{id}", if method == "PATCH" { &patched } else { &id })
            .replace("{provider}", "trtc")
            .replace("{tenant}", "nobody");
        let body = (method == "POST" && path == "/v1/ingests").then(|| pull_in("trtc", "2"));
        let body = body.or_else(|| (method == "POST").then(|| serde_json::json!({})));
        let body = body.or_else(|| {
            (method == "PATCH").then(|| serde_json::json!({"options": {"volume": 50}}))
        });
        let a = call(&gw, &method, &path, body).await;
        if method == "PATCH" {
            assert_eq!(a.status, 200, "PATCH {template}: {}", a.text);
        }
        let op = &spec["paths"][&template][method.to_lowercase()];
        let documented: Vec<&String> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .collect();
        assert!(
            documented
                .iter()
                .any(|s| s.as_str() == a.status.to_string()),
            "{method} {template} answered {} (documented: {documented:?}): {}",
            a.status,
            a.text
        );
        let response = &op["responses"][a.status.to_string()];
        let response = match response["$ref"].as_str() {
            Some(_) => &spec["components"]["responses"]["Problem"],
            None => response,
        };
        if let Some(content) = response["content"].as_object()
            && let Some((_, media)) = content.iter().find(|(k, _)| k.contains("json"))
            && !a.json.is_null()
        {
            conforms(
                &spec,
                &media["schema"],
                &a.json,
                &format!("{method} {template}"),
            );
        }
    }
}
