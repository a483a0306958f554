//! Timeout estimation: how long the next attempt of a job may run, and how
//! long it may stay silent. The host clamps the answer to its configured
//! floor and ceiling.

pub use crate::bindings::timeout_estimator_world::exports::ringmaster::plugin::timeout_estimator::{
    History, SimilarJobs, Timeouts,
};
use crate::{JobInfo, Result};

/// A timeout estimator; export it with [`crate::export_timeout_estimator!`].
pub trait TimeoutEstimator {
    /// Limits for the next attempt of `job`. `requested_ms` is what the
    /// submitter asked for, `fallback` what the host's own estimator says.
    fn estimate(job: JobInfo, similar: SimilarJobs, requested_ms: Option<u64>, fallback: Timeouts) -> Result<Timeouts>;
}

impl SimilarJobs {
    /// Every group, most specific first: each tag (in the job's order), the
    /// model, the agent, the prompt size, then all jobs.
    pub fn most_specific_first(&self) -> impl Iterator<Item = &History> {
        self.by_tag.iter().map(|(_, history)| history).chain([
            &self.by_model,
            &self.by_agent,
            &self.by_prompt_size,
            &self.overall,
        ])
    }
}

/// Exports `$ty`, a [`TimeoutEstimator`], as the plugin's `timeout-estimator`.
#[macro_export]
macro_rules! export_timeout_estimator {
    ($ty:ident) => {
        const _: () = {
            use $crate::__private::timeout_estimator_world::exports::ringmaster::plugin::timeout_estimator as wit;
            impl wit::Guest for $ty {
                fn estimate(
                    job: $crate::JobInfo,
                    similar: wit::SimilarJobs,
                    requested_ms: ::std::option::Option<u64>,
                    fallback: wit::Timeouts,
                ) -> wit::Timeouts {
                    $crate::__private::or_trap(
                        "estimate",
                        <$ty as $crate::timeout_estimator::TimeoutEstimator>::estimate(
                            job,
                            similar,
                            requested_ms,
                            fallback,
                        ),
                    )
                }
            }
        };
        /// Natively nothing is exported; this keeps the plugin's code
        /// alive for its tests (and out of dead-code warnings).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __ringmaster_plugin_timeout_estimator() -> &'static [*const ()] {
            &[<$ty as $crate::timeout_estimator::TimeoutEstimator>::estimate as *const ()]
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__private::timeout_estimator_world::export!(
            $ty with_types_in $crate::__private::timeout_estimator_world
        );
    };
}
