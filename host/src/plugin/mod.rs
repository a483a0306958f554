//! The plugin runtime: from a `.wasm` file on disk to sandboxed, timed,
//! hot-swappable calls. The lifecycle, in order: [`loader`] turns a file into a
//! [`loader::LoadedPlugin`] (with [`engine`], [`inspect`], [`manifest`]);
//! [`registry::PluginHost`] holds the active builds and routes every call
//! through [`sandbox`]; [`reload`] reloads on change. [`wit`] is where the
//! generated bindings of each contract version meet the host's types.

pub mod engine;
pub mod error;
pub mod inspect;
pub mod loader;
pub mod manifest;
pub mod registry;
pub mod reload;
pub mod sandbox;
pub mod stats;
pub mod wit;
