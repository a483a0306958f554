//! The MCP layer: `ringmaster serve` speaks the Model Context Protocol over
//! stdio and turns tool calls into engine calls. Nothing but protocol is ever
//! written to stdout; logs go to stderr.
//!
//! Every tool takes a JSON object and returns structured content (the job
//! record, a list of records, statistics) plus one line of text for people.
//! A tool that ran and failed (unknown job, refused submission) answers with
//! an error result whose text says what was wrong and how to fix it; only a
//! malformed request is a protocol error.
//!
//! * `server` — [`Ringmaster`], the value each session holds, and what the
//!   tools share (queueing, result shapes).
//! * `args` — the tools' arguments and their schemas.
//! * `tools` — the tools, one file per group (jobs, commands, inspection).
//! * `progress` — waiting for jobs with progress notifications.
//! * `handler` — the MCP server handler: tool calls, tasks, resources,
//!   prompts, logging, list-changed notifications.
//! * `prompts` — slash commands as MCP prompts.
//! * `resources` — job records, transcripts, statistics and plugins by URI.
//! * `tasks` — `job_run` as an MCP task for clients of the tasks extension.
//! * `logs` — plugin log lines as MCP log notifications.
//! * `transport` — the boundary every client message crosses first.
//! * `front` — `ringmaster serve`'s side: stdio to the engine's socket.
//!
//! The engine process ([`crate::daemon`]) assembles the server and serves a
//! session per connection that asks for one.

pub mod args;
pub mod front;
mod handler;
pub mod logs;
mod progress;
mod prompts;
mod resources;
mod server;
mod tasks;
mod tools;
pub mod transport;

pub use server::Ringmaster;
