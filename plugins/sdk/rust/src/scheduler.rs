//! Scheduling policy: which queued jobs start now, and on which token slot.
//!
//! The host asks two questions. `rank` (once per job, when it is queued and
//! on re-rank events) orders the queue; the default ranks by priority, so
//! that ties fall back to submission order. `select` (whenever capacity
//! frees up) picks from a bounded window of the best-ranked candidates.
//! Jobs it does not name stay queued; unknown ids, unknown slots and
//! duplicates are ignored by the host (and logged).

pub use crate::bindings::scheduler_world::exports::ringmaster::plugin::scheduler::{
    Assignment, Candidate, RootLoad, ScheduleInput, Slot,
};
use crate::{JobInfo, Result};

/// A scheduling policy; export it with [`crate::export_scheduler!`].
pub trait Scheduler {
    /// One rank per job, in order; higher is offered to `select` first.
    fn rank(jobs: Vec<JobInfo>) -> Result<Vec<i64>> {
        Ok(jobs.iter().map(|job| i64::from(job.priority)).collect())
    }

    /// The jobs to start now, each on a slot with room.
    fn select(input: ScheduleInput) -> Result<Vec<Assignment>>;
}

/// The room left on the slots that may take a job now (free and not
/// cooling down), handed out one job at a time.
#[derive(Debug, Clone)]
pub struct FreeSlots {
    /// (slot index, room left)
    room: Vec<(u32, u32)>,
}

impl FreeSlots {
    pub fn new(slots: &[Slot]) -> FreeSlots {
        let room =
            slots.iter().filter(|s| s.free > 0 && s.cooling_until_ms.is_none()).map(|s| (s.index, s.free)).collect();
        FreeSlots { room }
    }

    /// Takes room for one job on the slot with the most (the lowest index on
    /// a tie), which spreads load over the accounts; `None` when all are full.
    pub fn take(&mut self) -> Option<u32> {
        let (index, room) = self
            .room
            .iter_mut()
            .filter(|(_, room)| *room > 0)
            .max_by_key(|(index, room)| (*room, std::cmp::Reverse(*index)))?;
        *room -= 1;
        Some(*index)
    }

    /// Jobs that may still start on these slots.
    pub fn total(&self) -> u32 {
        self.room.iter().map(|(_, room)| room).sum()
    }
}

/// Starts `jobs`, in order, on the free slots, within the input's capacity.
pub fn fill_slots<'a>(input: &ScheduleInput, jobs: impl IntoIterator<Item = &'a Candidate>) -> Vec<Assignment> {
    let mut slots = FreeSlots::new(&input.slots);
    jobs.into_iter()
        .take(input.capacity as usize)
        .map_while(|candidate| slots.take().map(|slot| Assignment { job_id: candidate.job.id.clone(), slot }))
        .collect()
}

/// Exports `$ty`, a [`Scheduler`], as the plugin's `scheduler`.
#[macro_export]
macro_rules! export_scheduler {
    ($ty:ident) => {
        const _: () = {
            use $crate::__private::scheduler_world::exports::ringmaster::plugin::scheduler as wit;
            impl wit::Guest for $ty {
                fn rank(jobs: ::std::vec::Vec<$crate::JobInfo>) -> ::std::vec::Vec<i64> {
                    $crate::__private::or_trap("rank", <$ty as $crate::scheduler::Scheduler>::rank(jobs))
                }
                fn select(input: wit::ScheduleInput) -> ::std::vec::Vec<wit::Assignment> {
                    $crate::__private::or_trap("select", <$ty as $crate::scheduler::Scheduler>::select(input))
                }
            }
        };
        /// Natively nothing is exported; this keeps the plugin's code
        /// alive for its tests (and out of dead-code warnings).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __ringmaster_plugin_scheduler() -> &'static [*const ()] {
            &[<$ty as $crate::scheduler::Scheduler>::rank as *const (), <$ty as $crate::scheduler::Scheduler>::select as *const ()]
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__private::scheduler_world::export!($ty with_types_in $crate::__private::scheduler_world);
    };
}
