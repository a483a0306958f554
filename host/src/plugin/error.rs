//! What can go wrong loading or calling a plugin. Every message says what was
//! wrong and, where there is one, how to fix it.

use crate::contract::ExtensionPoint;
use std::path::PathBuf;

/// Why a plugin file was not loaded. The previous version (if any) stays active.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path} is not a WebAssembly file (it does not start with \\0asm); plugins are components built for wasm32-wasip2"
    )]
    NotWasm { path: PathBuf },
    #[error(
        "{path} is a core WebAssembly module, not a component; build it with `cargo build --target wasm32-wasip2` \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: PathBuf },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path} is not a valid component: {message}")]
    Compile { path: PathBuf, message: String },
    #[error(
        "{path} needs {package}@{found}, host supports {supported}; rebuild the plugin against this host's \
         contract (`ringmaster plugin wit` writes it out) or run a ringmaster that supports {found}"
    )]
    IncompatibleVersion { path: PathBuf, package: String, found: String, supported: String },
    #[error(
        "{path} exports no ringmaster extension point (it exports: {exports}); a plugin must export at least one of: \
         {expected}"
    )]
    NoExtensionPoint { path: PathBuf, exports: String, expected: String },
    #[error("{path} exports {export}, which this host does not know; known extension points: {expected}")]
    UnknownExport { path: PathBuf, export: String, expected: String },
    #[error("{path} requests the `{capability}` capability, which is not granted: {how}")]
    UngrantedCapability { path: PathBuf, capability: &'static str, how: String },
    #[error(
        "{path} imports {import}, which ringmaster does not provide; plugins may import ringmaster:plugin/host and WASI 0.2"
    )]
    UnknownImport { path: PathBuf, import: String },
    #[error("{path}: {message}")]
    Link { path: PathBuf, message: String },
    #[error("{path} failed its smoke call of {point}: {error}")]
    Smoke { path: PathBuf, point: ExtensionPoint, error: CallError },
}

/// Why a call into a plugin did not return a usable answer. The caller falls
/// back to the built-in behaviour for that extension point.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{plugin} ran past its {deadline_ms} ms deadline and was stopped")]
    Deadline { plugin: String, deadline_ms: u64 },
    #[error("{plugin} hit its {limit_mib} MiB memory limit and was stopped")]
    Memory { plugin: String, limit_mib: u64 },
    #[error("{plugin} trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("{plugin} returned an invalid answer: {message}")]
    Invalid { plugin: String, message: String },
    #[error("{plugin} does not export {point}")]
    NotExported { plugin: String, point: ExtensionPoint },
    #[error(
        "{plugin} is set aside after repeated failures (circuit open for another {remaining_ms} ms); last error: {last_error}"
    )]
    CircuitOpen { plugin: String, remaining_ms: u64, last_error: String },
    #[error("no plugin named {name} is loaded")]
    NotLoaded { name: String },
}
