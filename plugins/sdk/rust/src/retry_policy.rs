//! Retry policy: what happens when an attempt fails. The host never runs
//! more than the job's `max-retries` retries, whatever the policy says.

pub use crate::bindings::retry_policy_world::exports::ringmaster::plugin::retry_policy::{
    Decision, Failure, FailureKind, Retry,
};
use crate::{JobInfo, Result};

/// A retry policy; export it with [`crate::export_retry_policy!`].
pub trait RetryPolicy {
    /// Decides about failed attempt `attempt` (1-based) of `job`.
    fn decide(job: JobInfo, attempt: u32, max_retries: u32, failure: Failure) -> Result<Decision>;
}

impl FailureKind {
    /// The kind's name in the contract, e.g. `"idle-timeout"` (the names
    /// configuration and logs use).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::IdleTimeout => "idle-timeout",
            FailureKind::RateLimited => "rate-limited",
            FailureKind::AgentError => "agent-error",
            FailureKind::Crashed => "crashed",
            FailureKind::CouldNotStart => "could-not-start",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

impl Retry {
    /// Retry after `delay_ms`, starting over, keeping priority and timeout.
    pub fn after(delay_ms: u64) -> Retry {
        Retry { delay_ms, resume_session: false, priority: None, timeout_ms: None }
    }
}

/// Exports `$ty`, a [`RetryPolicy`], as the plugin's `retry-policy`.
#[macro_export]
macro_rules! export_retry_policy {
    ($ty:ident) => {
        const _: () = {
            use $crate::__private::retry_policy_world::exports::ringmaster::plugin::retry_policy as wit;
            impl wit::Guest for $ty {
                fn decide(job: $crate::JobInfo, attempt: u32, max_retries: u32, failure: wit::Failure) -> wit::Decision {
                    $crate::__private::or_trap(
                        "decide",
                        <$ty as $crate::retry_policy::RetryPolicy>::decide(job, attempt, max_retries, failure),
                    )
                }
            }
        };
        /// Natively nothing is exported; this keeps the plugin's code
        /// alive for its tests (and out of dead-code warnings).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __ringmaster_plugin_retry_policy() -> &'static [*const ()] {
            &[<$ty as $crate::retry_policy::RetryPolicy>::decide as *const ()]
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__private::retry_policy_world::export!($ty with_types_in $crate::__private::retry_policy_world);
    };
}
