//! Whether a component targets the world this host serves, and if not, every way it differs,
//! in words a plugin author can act on.

use wasmtime::Engine;
use wasmtime::component::{Component, types::ComponentItem};

/// Names every way `component` differs from the `adapter-plugin` world, in words a plugin
/// author can act on.
pub(crate) fn problems(engine: &Engine, component: &Component) -> Vec<String> {
    let mut problems = Vec::new();
    export_problems(engine, component, &mut problems);
    import_problems(engine, component, &mut problems);
    problems
}

/// The provider interface: exported, as an instance, of this contract line, complete; the
/// optional updater and secret-catalog interfaces, when exported, complete too.
fn export_problems(engine: &Engine, component: &Component, problems: &mut Vec<String>) {
    let ty = component.component_type();

    let exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect();
    let export = |interface: &str| {
        exports
            .iter()
            .find(|(n, _)| super::interface_in_line(n) == Some(interface))
    };
    let provider = export("provider");
    match provider {
        Some((name, item)) => {
            interface_problems(engine, name, item, &super::PROVIDER_FUNCTIONS, problems)
        }
        None => {
            let other = exports
                .iter()
                .find(|(n, _)| n.starts_with("ingest:provider/provider"));
            match other {
                Some((n, _)) => problems.push(format!(
                    "exports `{n}`, but this host speaks `{}` (contract version {}); rebuild the plugin against this host's wit/",
                    super::PROVIDER_EXPORT,
                    super::CONTRACT_VERSION
                )),
                None => {
                    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
                    problems.push(format!(
                        "missing export `{}` (the component exports: [{}]); implement the provider interface and export it",
                        super::PROVIDER_EXPORT,
                        names.join(", ")
                    ));
                }
            }
        }
    }
    if let Some((name, item)) = export("updater") {
        interface_problems(engine, name, item, &super::UPDATER_FUNCTIONS, problems);
    }
    if let Some((name, item)) = export("secret-catalog") {
        interface_problems(
            engine,
            name,
            item,
            &super::SECRET_CATALOG_FUNCTIONS,
            problems,
        );
    }
}

/// An exported interface: an instance with every function of `functions`.
fn interface_problems(
    engine: &Engine,
    name: &str,
    item: &ComponentItem,
    functions: &[&str],
    problems: &mut Vec<String>,
) {
    let ComponentItem::ComponentInstance(instance) = item else {
        problems.push(format!(
            "`{name}` is exported, but not as an interface instance"
        ));
        return;
    };
    let have: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
    let missing: Vec<&str> = functions
        .iter()
        .copied()
        .filter(|f| !have.contains(f))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "export `{name}` lacks function(s): {}",
            missing.join(", ")
        ));
    }
}

/// Imports: this contract's host interfaces and WASI 0.2 support, nothing that reaches the
/// network.
fn import_problems(engine: &Engine, component: &Component, problems: &mut Vec<String>) {
    for (name, _) in component.component_type().imports(engine) {
        if super::REFUSED_WASI.iter().any(|p| name.starts_with(p)) {
            problems.push(format!(
                "imports `{name}`: a contract {} plugin makes no network calls of its own; it returns each vendor request as a value (`send` step) and the host sends it. Rebuild it against this host's wit/",
                super::CONTRACT_VERSION
            ));
            continue;
        }
        let ok = if let Some(rest) = name.strip_prefix("wasi:") {
            rest.contains("@0.2.")
        } else {
            super::interface_in_line(name).is_some_and(|i| super::HOST_INTERFACES.contains(&i))
        };
        if !ok {
            problems.push(format!(
                "imports `{name}`, which this host does not provide (it provides ingest:provider/{{{}}}@{} and WASI 0.2 interfaces)",
                super::HOST_INTERFACES.join(","),
                super::CONTRACT_VERSION
            ));
        }
    }
}
