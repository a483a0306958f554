//! What the binary carries for plugin authors: the contract's WIT, as the
//! host was built with it, the Rust SDK crate (`plugins/sdk/rust`, whose
//! `wit/` is that same WIT) and the Python and JavaScript helper modules
//! (`plugins/sdk/{python,js}`). A test checks that every file of those
//! directories is here, so an SDK cannot grow a file the binary forgets.

use crate::contract::{PACKAGE, VERSION};

/// The contract's WIT files, by name.
pub const WIT: &[(&str, &str)] =
    &[("types.wit", include_str!("../../../wit/types.wit")), ("worlds.wit", include_str!("../../../wit/worlds.wit"))];

/// The SDK crate's files, by path in the crate (its `wit/` comes from [`WIT`]).
pub const SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../plugins/sdk/rust/Cargo.toml")),
    ("src/bindings.rs", include_str!("../../../plugins/sdk/rust/src/bindings.rs")),
    ("src/commands.rs", include_str!("../../../plugins/sdk/rust/src/commands.rs")),
    ("src/config.rs", include_str!("../../../plugins/sdk/rust/src/config.rs")),
    ("src/error.rs", include_str!("../../../plugins/sdk/rust/src/error.rs")),
    ("src/hook_handler.rs", include_str!("../../../plugins/sdk/rust/src/hook_handler.rs")),
    ("src/host.rs", include_str!("../../../plugins/sdk/rust/src/host.rs")),
    ("src/lib.rs", include_str!("../../../plugins/sdk/rust/src/lib.rs")),
    ("src/log.rs", include_str!("../../../plugins/sdk/rust/src/log.rs")),
    ("src/retry_policy.rs", include_str!("../../../plugins/sdk/rust/src/retry_policy.rs")),
    ("src/scheduler.rs", include_str!("../../../plugins/sdk/rust/src/scheduler.rs")),
    ("src/testing.rs", include_str!("../../../plugins/sdk/rust/src/testing.rs")),
    ("src/timeout_estimator.rs", include_str!("../../../plugins/sdk/rust/src/timeout_estimator.rs")),
];

/// The Python SDK: one module over componentize-py's bindings.
pub const PYTHON_SDK: &[(&str, &str)] =
    &[("ringmaster_plugin.py", include_str!("../../../plugins/sdk/python/ringmaster_plugin.py"))];

/// The JavaScript SDK: the helper module and the test host for Node.
pub const JS_SDK: &[(&str, &str)] = &[
    ("register-test-host.js", include_str!("../../../plugins/sdk/js/register-test-host.js")),
    ("ringmaster-plugin.js", include_str!("../../../plugins/sdk/js/ringmaster-plugin.js")),
    ("test-host.js", include_str!("../../../plugins/sdk/js/test-host.js")),
];

/// The contract the WIT defines, e.g. `ringmaster:plugin@0.1.0`.
pub fn contract() -> String {
    format!("{PACKAGE}@{VERSION}")
}

/// The SDK's version, from its Cargo.toml.
pub fn sdk_version() -> &'static str {
    let manifest = SDK[0].1;
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the SDK's Cargo.toml has a version")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file under `dir` (not following symbolic links), relative to it, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    walk(root, &entry.path(), files);
                } else if kind.is_file() {
                    files.push(entry.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let mut files = Vec::new();
        walk(dir, dir, &mut files);
        files.sort();
        files
    }

    #[test]
    fn every_file_of_the_wit_and_the_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let wit: Vec<&str> = WIT.iter().map(|(name, _)| *name).collect();
        assert_eq!(files_under(&root.join("wit")), wit);
        let sdk: Vec<&str> = SDK.iter().map(|(name, _)| *name).collect();
        let on_disk: Vec<String> = files_under(&root.join("plugins/sdk/rust"))
            .into_iter()
            .filter(|path| !path.starts_with("target/"))
            .collect();
        assert_eq!(on_disk, sdk);
        for (dir, embedded) in [("python", PYTHON_SDK), ("js", JS_SDK)] {
            let names: Vec<&str> = embedded.iter().map(|(name, _)| *name).collect();
            let on_disk: Vec<String> = files_under(&root.join("plugins/sdk").join(dir))
                .into_iter()
                .filter(|path| !path.contains("__pycache__"))
                .collect();
            assert_eq!(on_disk, names, "plugins/sdk/{dir}");
        }
        assert!(WIT[1].1.starts_with(&format!("package {};", contract())), "the WIT declares {}", contract());
        assert_eq!(sdk_version(), "0.1.0");
    }
}
