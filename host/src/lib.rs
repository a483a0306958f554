//! ringmaster: run many coding agents at once, with live-reloadable
//! WebAssembly policies.
//!
//! The data path runs one way: the MCP layer hands requests to the engine,
//! which keeps the queue and consults the [`policy`] layer (plugins from the
//! [`plugin`] runtime, or the built-in defaults), starts attempts through the
//! [`executor`], and records everything in the store.
//!
//! * [`job`] — the job model: specs, records, statuses, the environment contract with agents.
//! * [`schedule`] — jobs submitted when a cron pattern comes round.
//! * [`contract`] — the extension points and the types plugins see and answer, on the host's side.
//! * [`config`] — `ringmaster.yaml`.
//! * [`credentials`] — where tokens come from; the variables no child inherits.
//! * [`plugin`] — loading, sandboxing, calling and hot-reloading WebAssembly plugins.
//! * [`policy`] — scheduler, timeout estimator and retry policy: plugin or built-in.
//! * [`commands`] — slash commands: markdown files and plugin commands.
//! * [`hooks`] — hook configs (Claude Code format) and their command and WASM handlers.
//! * [`engine`] — the job queue, limits, token pool, retries.
//! * [`executor`] — one attempt of a job as a child process group.
//! * [`git`] — worktrees, checkpoints, diffs and merges, through the `git` command line.
//! * [`daemon`] — the engine process: one per state directory, shared by every front-end.
//! * [`remote`] — the engine's local socket: the protocol, clients, starting an engine on demand.
//! * [`store`] — the SQLite job store.
//! * [`simulate`] — replaying a workload through the engine's scheduling, to compare policies.
//! * [`mcp`] — the MCP sessions and tools, and `ringmaster serve`'s front-end.
//! * [`cli`] — the command line.
//! * [`authoring`] — what plugin authors get from the binary: the WIT, the SDK, project templates.
//! * [`fileset`] — files parsed from directories, last good version kept.
//! * [`watch`] — debounced directory watching for everything that hot-reloads.
//! * [`panic`] — containing a panic to the one piece of work that raised it.
//! * [`untrusted`] — reading files from outside: regular files only, bounded, confined.

pub mod authoring;
pub mod cli;
pub mod commands;
pub mod config;
pub mod contract;
pub mod credentials;
pub mod daemon;
pub mod engine;
pub mod executor;
pub mod fileset;
pub mod git;
pub mod hooks;
pub mod job;
pub mod mcp;
pub mod panic;
pub mod plugin;
pub mod policy;
pub mod remote;
pub mod schedule;
pub mod simulate;
pub mod store;
pub mod untrusted;
pub mod watch;
