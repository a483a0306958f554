//! The integration tests: one binary, so ringmaster and wasmtime are linked
//! once (eleven binaries each linking them were a large part of the suite's
//! time), one module per area.

mod support;

mod authoring;
mod bad_plugins;
mod cli;
mod commands;
mod daemon;
mod engine;
mod executor;
mod extension_points;
mod guests;
mod hooks;
mod hot_reload;
mod isolation;
mod mcp;
mod recursion;
