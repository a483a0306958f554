//! Checks a compiled component against the contract before it may run: which
//! extension points it exports, that it was built for a compatible contract
//! version, and that everything it imports is either harmless or granted.
//!
//! Imports fall into three groups:
//! * always provided: `ringmaster:plugin/{host,types}`, and the WASI
//!   interfaces that carry no authority (`wasi:io`, `wasi:clocks`,
//!   `wasi:random`) or that Rust's standard library imports in every build
//!   (`wasi:cli/*`). The latter are inert unless granted: the environment is
//!   empty, stdin is empty and prints never reach the host's stdout (the MCP
//!   channel);
//! * provided only with a capability: `wasi:filesystem` (`filesystem`) and
//!   `wasi:sockets` (`network`);
//! * never provided: anything else (e.g. `wasi:http`), which rejects the plugin.

use super::error::LoadError;
use crate::config::Capabilities;
use crate::contract::{ExtensionPoint, PACKAGE, VERSION, Version};
use std::path::Path;
use wasmtime::Engine;
use wasmtime::component::Component;

/// What a component provides and needs.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub extension_points: Vec<ExtensionPoint>,
    pub imports: Vec<String>,
}

/// A name such as `wasi:cli/stdout@0.2.6`, split into its parts.
struct InterfaceName<'a> {
    package: &'a str,
    interface: &'a str,
    version: Option<&'a str>,
}

fn parse_name(name: &str) -> Option<InterfaceName<'_>> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (package, interface) = path.split_once('/')?;
    Some(InterfaceName { package, interface, version })
}

/// Rejects anything built against an incompatible version of our package.
fn check_version(path: &Path, name: &InterfaceName<'_>) -> Result<(), LoadError> {
    let found = name.version.unwrap_or("(unversioned)");
    match name.version.and_then(Version::parse) {
        Some(version) if version.is_compatible_with(VERSION) => Ok(()),
        _ => Err(LoadError::IncompatibleVersion {
            path: path.to_path_buf(),
            package: PACKAGE.to_string(),
            found: found.to_string(),
            supported: VERSION.compatible_range(),
        }),
    }
}

fn expected_exports() -> String {
    ExtensionPoint::ALL.iter().map(|p| p.qualified()).collect::<Vec<_>>().join(", ")
}

/// The capability a WASI import needs, or `None` when it is always provided.
/// `Err(())` means the host never provides it.
fn wasi_capability(interface: &InterfaceName<'_>) -> Result<Option<&'static str>, ()> {
    let namespace = interface.package.strip_prefix("wasi:").ok_or(())?;
    match namespace {
        "io" | "clocks" | "random" | "cli" => Ok(None),
        "filesystem" => Ok(Some("filesystem")),
        "sockets" => Ok(Some("network")),
        _ => Err(()),
    }
}

fn grant_hint(plugin: &str, capability: &str) -> String {
    let example = match capability {
        "filesystem" => "filesystem: [/some/dir]",
        _ => "network: true",
    };
    format!(
        "request it in {plugin}.yaml (`capabilities: {{ {example} }}`) and grant it in ringmaster.yaml \
         (`plugins: {{ grants: {{ {plugin}: {{ {example} }} }} }}`)"
    )
}

/// Validates `component` (loaded from `path` as plugin `plugin`) against the
/// contract and the plugin's effective capabilities.
pub fn inspect(
    engine: &Engine,
    component: &Component,
    path: &Path,
    plugin: &str,
    granted: &Capabilities,
) -> Result<Inspection, LoadError> {
    let ty = component.component_type();
    let mut extension_points = Vec::new();
    let mut foreign_exports = Vec::new();
    for (name, _) in ty.exports(engine) {
        match parse_name(name) {
            Some(parsed) if parsed.package == PACKAGE => {
                check_version(path, &parsed)?;
                let point =
                    ExtensionPoint::from_interface(parsed.interface).ok_or_else(|| LoadError::UnknownExport {
                        path: path.to_path_buf(),
                        export: name.to_string(),
                        expected: expected_exports(),
                    })?;
                extension_points.push(point);
            }
            _ => foreign_exports.push(name.to_string()),
        }
    }
    if extension_points.is_empty() {
        return Err(LoadError::NoExtensionPoint {
            path: path.to_path_buf(),
            exports: if foreign_exports.is_empty() { "nothing".into() } else { foreign_exports.join(", ") },
            expected: expected_exports(),
        });
    }
    extension_points.sort();

    let mut imports = Vec::new();
    for (name, _) in ty.imports(engine) {
        imports.push(name.to_string());
        let unknown = || LoadError::UnknownImport { path: path.to_path_buf(), import: name.to_string() };
        let parsed = parse_name(name).ok_or_else(unknown)?;
        if parsed.package == PACKAGE {
            check_version(path, &parsed)?;
            if !matches!(parsed.interface, "host" | "types") {
                return Err(unknown());
            }
            continue;
        }
        let capability = wasi_capability(&parsed).map_err(|()| unknown())?;
        let granted = match capability {
            None => true,
            Some("filesystem") => !granted.filesystem.is_empty(),
            Some(_) => granted.network,
        };
        if !granted {
            let capability = capability.expect("only capabilities can be missing");
            return Err(LoadError::UngrantedImport {
                path: path.to_path_buf(),
                import: name.to_string(),
                capability,
                how: grant_hint(plugin, capability),
            });
        }
    }
    Ok(Inspection { extension_points, imports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_package_interface_and_version() {
        let name = parse_name("wasi:cli/stdout@0.2.6").unwrap();
        assert_eq!((name.package, name.interface, name.version), ("wasi:cli", "stdout", Some("0.2.6")));
        assert!(parse_name("plain-function").is_none());
    }

    #[test]
    fn wasi_imports_map_to_capabilities() {
        let cap = |n: &str| wasi_capability(&parse_name(n).unwrap());
        assert_eq!(cap("wasi:io/streams@0.2.6"), Ok(None));
        assert_eq!(cap("wasi:filesystem/types@0.2.6"), Ok(Some("filesystem")));
        assert_eq!(cap("wasi:sockets/tcp@0.2.6"), Ok(Some("network")));
        assert_eq!(cap("wasi:http/outgoing-handler@0.2.6"), Err(()));
    }
}
