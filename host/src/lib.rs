//! ringmaster: run many coding agents at once, with live-reloadable
//! WebAssembly policies.
//!
//! The data path runs one way: the MCP layer hands requests to the engine,
//! which keeps the queue and consults the [`policy`] layer (plugins from the
//! [`plugin`] runtime, or the built-in defaults), starts attempts through the
//! [`executor`], and records everything in the store.
//!
//! * [`config`] — `ringmaster.yaml`.
//! * [`plugin`] — loading, sandboxing, calling and hot-reloading WebAssembly plugins.
//! * [`policy`] — scheduler, timeout estimator and retry policy: plugin or built-in.
//! * [`engine`] — the job queue, limits, token pool, retries.
//! * [`executor`] — one attempt of a job as a child process group.
//! * [`store`] — the SQLite job store.
//! * [`mcp`] — `ringmaster serve`: the MCP tools over stdio.
//! * [`cli`] — the command line.

pub mod cli;
pub mod config;
pub mod engine;
pub mod executor;
pub mod mcp;
pub mod plugin;
pub mod policy;
pub mod store;
