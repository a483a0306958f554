//! Checks a compiled component against the contract before it may run: which
//! extension points it exports, that it was built for a compatible contract
//! version, and that everything it imports is either harmless or granted.
//!
//! Imports fall into two groups:
//! * provided: `ringmaster:plugin/{host,types}` and the interfaces of WASI 0.2
//!   that a language's runtime imports in every build (`wasi:io`,
//!   `wasi:clocks`, `wasi:random`, `wasi:cli`, `wasi:filesystem`,
//!   `wasi:sockets`: Rust's standard library imports some of them, Python's
//!   and JavaScript's runtimes all). Importing one grants nothing: authority
//!   is given per call by the WASI context (`sandbox`), which has no
//!   environment, no stdin, no directory and no network unless the manifest
//!   requests a capability *and* the host grants it. So a plugin is checked
//!   for what it asks for, not for what its runtime links;
//! * never provided: anything else (e.g. `wasi:http`), which rejects the plugin.
//!
//! A manifest that requests `filesystem` or `network` and is not granted it
//! is refused at load, naming the grant: the author said the plugin needs it,
//! so running it without would only fail later and less clearly.

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

/// Whether the host links a WASI interface (see the module docs).
fn wasi_provided(interface: &InterfaceName<'_>) -> bool {
    matches!(
        interface.package.strip_prefix("wasi:"),
        Some("io" | "clocks" | "random" | "cli" | "filesystem" | "sockets")
    )
}

/// Refuses a plugin whose manifest requests a capability that the host's
/// configuration does not grant (`effective` is what both name).
pub fn check_grants(
    path: &Path,
    plugin: &str,
    requested: &Capabilities,
    effective: &Capabilities,
) -> Result<(), LoadError> {
    let missing = if !requested.filesystem.is_empty() && effective.filesystem.is_empty() {
        let dirs: Vec<String> = requested.filesystem.iter().map(|d| d.display().to_string()).collect();
        Some(("filesystem", format!("filesystem: [{}]", dirs.join(", "))))
    } else if requested.network && !effective.network {
        Some(("network", "network: true".to_string()))
    } else {
        None
    };
    match missing {
        Some((capability, grant)) => Err(LoadError::UngrantedCapability {
            path: path.to_path_buf(),
            capability,
            how: format!("grant it in ringmaster.yaml (`plugins: {{ grants: {{ {plugin}: {{ {grant} }} }} }}`)"),
        }),
        None => Ok(()),
    }
}

/// Validates `component` (loaded from `path`) against the contract.
pub fn inspect(engine: &Engine, component: &Component, path: &Path) -> Result<Inspection, LoadError> {
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
        if !wasi_provided(&parsed) {
            return Err(unknown());
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
    fn the_wasi_of_language_runtimes_is_provided_and_nothing_else() {
        let provided = |n: &str| wasi_provided(&parse_name(n).unwrap());
        assert!(provided("wasi:io/streams@0.2.6"));
        assert!(provided("wasi:filesystem/types@0.2.9"));
        assert!(provided("wasi:sockets/tcp@0.2.12"));
        assert!(!provided("wasi:http/outgoing-handler@0.2.6"));
        assert!(!provided("acme:io/streams@0.2.6"));
    }

    #[test]
    fn a_requested_capability_must_be_granted() {
        let path = Path::new("p.wasm");
        let fs = Capabilities { filesystem: vec!["/data".into()], ..Default::default() };
        let error = check_grants(path, "p", &fs, &Capabilities::default()).unwrap_err().to_string();
        assert!(error.contains("requests the `filesystem` capability"), "{error}");
        assert!(error.contains("grants: { p: { filesystem: [/data] } }"), "{error}");
        assert!(check_grants(path, "p", &fs, &fs).is_ok());
        let net = Capabilities { network: true, ..Default::default() };
        assert!(
            check_grants(path, "p", &net, &Capabilities::default()).unwrap_err().to_string().contains("network: true")
        );
        // What is not requested needs no grant.
        assert!(check_grants(path, "p", &Capabilities::default(), &Capabilities::default()).is_ok());
    }
}
