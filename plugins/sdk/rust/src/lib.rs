//! # ringmaster-plugin: ringmaster plugins in a few lines
//!
//! A ringmaster plugin is a WebAssembly component that implements one or
//! more extension points of the `ringmaster:plugin@0.1.0` contract (the WIT
//! that `ringmaster plugin wit` writes out). This crate is that contract for
//! Rust, without the ceremony:
//!
//! * one trait per extension point ([`scheduler::Scheduler`],
//!   [`timeout_estimator::TimeoutEstimator`], [`retry_policy::RetryPolicy`],
//!   [`hook_handler::HookHandler`], [`commands::Commands`]) and one macro to
//!   export a type that implements it ([`export_scheduler!`] and so on);
//! * typed configuration with defaults and errors that name the key
//!   ([`config::get_or`]), logging ([`log`]), the clock ([`now_ms`]);
//! * the contract's types, re-exported with their documentation;
//! * native tests: `cargo test` runs a plugin's decisions without building
//!   WebAssembly, against a host the test controls ([`testing::TestHost`]).
//!
//! ```ignore
//! use ringmaster_plugin::scheduler::{Assignment, ScheduleInput, Scheduler};
//!
//! /// Starts the best-ranked candidates on the slots with the most room.
//! struct Greedy;
//!
//! impl Scheduler for Greedy {
//!     fn select(input: ScheduleInput) -> ringmaster_plugin::Result<Vec<Assignment>> {
//!         let cap: u32 = ringmaster_plugin::config::get_or("max-starts", u32::MAX)?;
//!         Ok(ringmaster_plugin::scheduler::fill_slots(&input, input.candidates.iter().take(cap as usize)))
//!     }
//! }
//!
//! ringmaster_plugin::export_scheduler!(Greedy);
//! ```
//!
//! Errors: where the contract has no error channel (every point but
//! commands), an `Err` returned by the trait ends the call as a failure of
//! the plugin; the host logs the message, counts the failure and falls back
//! to its built-in behaviour for that call, exactly as for a trap.

mod bindings;
pub mod commands;
pub mod config;
mod error;
pub mod hook_handler;
mod host;
pub mod log;
pub mod retry_policy;
pub mod scheduler;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod timeout_estimator;

pub use bindings::types::JobInfo;
pub use error::{Error, Result};

/// Wall-clock time, milliseconds since the Unix epoch (the host's clock; in
/// native tests, the [`testing::TestHost`]'s).
pub fn now_ms() -> u64 {
    host::now_ms()
}

/// What the export macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{
        commands_world, hook_handler_world, retry_policy_world, scheduler_world, timeout_estimator_world,
    };

    /// The value, or a trap whose report carries the error: the host quotes
    /// the end of the plugin's stderr (a panic would add its location).
    pub fn or_trap<T>(call: &str, result: crate::Result<T>) -> T {
        match result {
            Ok(value) => value,
            Err(error) => {
                eprintln!("{call}: {error}");
                std::process::abort()
            }
        }
    }
}
