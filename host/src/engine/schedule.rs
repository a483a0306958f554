//! The scheduling loop: whenever something may start (a submission, an
//! attempt ending, a cooldown expiring), offer the best-ranked queued jobs
//! that fit the concurrency limits to the scheduler policy, and start what it
//! picks, checking the hard limits again whatever it answered. And ranking
//! the queue again when the scheduler in force changes.

use super::state::{Limits, State};
use super::{Inner, job_info};
use crate::contract::{Assignment, Candidate, RootLoad, ScheduleInput, SlotLoad};
use crate::contract::{ExtensionPoint, JobInfo};
use crate::job::JobRecord;
use crate::job::now_ms;
use crate::plugin::registry::PluginEvent;
use crate::policy::Source;
use futures::FutureExt;
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Candidates offered to a scheduler plugin per round (the WIT promises at
/// most this many). The built-in scheduler takes them in rank order, so it
/// is offered only as many as can start.
const WINDOW: usize = 64;

/// What the scheduler is offered at `now`: the best-ranked queued jobs the
/// limits would let start (as many as may start for the built-in, which
/// takes them in order; a window for a plugin), the token slots, the trees'
/// loads. `None` when nothing may start. Shared by the engine and its
/// replay under virtual time ([`super::replay`]).
pub(super) fn offer(
    state: &mut State,
    limits: Limits,
    plugin: bool,
    now: Instant,
    now_ms: u64,
) -> Option<ScheduleInput> {
    let capacity = limits.max_concurrent.saturating_sub(state.running);
    if capacity == 0 || state.queue.is_empty() || state.paused.all {
        return None;
    }
    let window = if plugin { WINDOW } else { (capacity as usize).min(WINDOW) };
    let spent = state.spent_budgets(now_ms);
    let candidates: Vec<Candidate> = state
        .queue
        .iter()
        .filter_map(|(Reverse(rank), _, id)| {
            let live = &state.live[id];
            let busy = state.running_by_depth.get(&live.record.depth).copied().unwrap_or(0);
            let held = state.paused.holding(&live.spec.tags).is_some()
                || spent.iter().any(|b| b.budget.covers(&live.record.root_job_id, &live.record.tags));
            (busy < limits.per_depth && !held).then(|| Candidate {
                job: job_info(&live.spec, &live.record),
                rank: *rank,
                waited_ms: now.duration_since(live.queued_at).as_millis() as u64,
            })
        })
        .take(window)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let slots: Vec<SlotLoad> = (0..state.tokens.slots.len())
        .map(|i| {
            let free = state.tokens.free(i, now);
            let slot = &state.tokens.slots[i];
            SlotLoad {
                index: i as u32,
                running: slot.running,
                free,
                cooling_until_ms: slot
                    .cooling_until
                    .map(|until| now_ms + until.saturating_duration_since(now).as_millis() as u64),
                recent_started: slot.recent.ended(),
                recent_failed: slot.recent.failed(),
                recent_rate_limited: slot.recent.rate_limited(),
            }
        })
        .collect();
    let roots: BTreeSet<&str> = candidates.iter().map(|c| c.job.root_id.as_str()).collect();
    let roots = roots
        .into_iter()
        .map(|r| RootLoad { root_id: r.to_string(), running: state.running_by_root.get(r).copied().unwrap_or(0) })
        .collect();
    Some(ScheduleInput { candidates, slots, capacity, roots, queued_total: state.queue.len() as u32, now_ms })
}

/// A start the scheduler chose and the limits allowed.
pub(super) struct Start {
    pub job_id: String,
    pub slot: usize,
    /// The job's record before the start (to undo it) and after.
    pub before: JobRecord,
    pub record: JobRecord,
}

/// Takes the places of the scheduler's choices that still fit: the state
/// may have moved while it thought, and whatever it answered, the hard
/// limits hold (`State::start` checks them again).
pub(super) fn take_places(
    state: &mut State,
    chosen: Vec<Assignment>,
    limits: Limits,
    now: Instant,
    now_ms: u64,
) -> impl Iterator<Item = Start> + '_ {
    chosen.into_iter().filter_map(move |assignment| {
        let slot = assignment.slot as usize;
        let before = state.live.get(&assignment.job_id)?.record.clone();
        let record = state.start(&assignment.job_id, slot, limits, now, now_ms)?;
        Some(Start { job_id: assignment.job_id, slot, before, record })
    })
}

impl Inner {
    pub(super) async fn scheduling_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                // Cooldowns and rate windows expire without an event.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.shutdown.cancelled() => return,
            }
            // A round that panics (a bug) is logged; the next event starts another.
            while let Ok(true) = AssertUnwindSafe(self.clone().schedule_round()).catch_unwind().await.map_err(|panic| {
                tracing::error!("a scheduling round panicked (a bug in ringmaster): {}", crate::panic::message(&*panic))
            }) {}
        }
    }

    /// One scheduling decision; returns whether anything started.
    async fn schedule_round(self: Arc<Self>) -> bool {
        // A start the store cannot record would run again after a restart.
        if self.writes.writable().is_err() || self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let settings = self.settings.load_full();
        let plugin = matches!(self.policies.source(ExtensionPoint::Scheduler), Source::Plugin(_));
        let limits =
            Limits { max_concurrent: settings.max_concurrent, per_depth: settings.config.max_concurrent_per_depth };
        let Some(input) = offer(&mut self.state.lock(), limits, plugin, Instant::now(), now_ms()) else {
            return false;
        };
        let chosen = self.policy(ExtensionPoint::Scheduler, move |policies| policies.select(&input)).await;

        // Take the places of what fits, then record the starts (together)
        // before any agent runs: a start that is not recorded does not happen.
        let mut recorded = 0;
        let starts: Vec<(String, usize, JobRecord)> = {
            let mut state = self.state.lock();
            take_places(&mut state, chosen, limits, Instant::now(), now_ms())
                .map(|start| {
                    recorded = self.writes.record(&start.record);
                    (start.job_id, start.slot, start.before)
                })
                .collect()
        };
        if starts.is_empty() {
            return false;
        }
        self.changed.send_modify(|n| *n += 1);
        if let Err(why) = self.writes.wait_written(recorded).await {
            tracing::warn!(jobs = starts.len(), error = %why, "starts not recorded; the jobs stay queued");
            let mut state = self.state.lock();
            for (id, _, before) in starts {
                state.unstart(&id, before);
                if let Some(live) = state.live.get(&id) {
                    self.writes.record(&live.record);
                }
            }
            drop(state);
            self.changed.send_modify(|n| *n += 1);
            return false;
        }
        for (id, slot, _) in starts {
            self.spawn_attempt(id, slot);
        }
        true
    }

    /// Ranks every queued job again, in batches so that each scheduler call
    /// stays within its deadline. Jobs that left the queue meanwhile keep
    /// whatever they have.
    pub(super) fn rerank(&self) {
        const BATCH: usize = 256;
        let queued: Vec<(String, JobInfo)> = {
            let state = self.state.lock();
            state
                .queue
                .iter()
                .map(|(_, _, id)| (id.clone(), job_info(&state.live[id].spec, &state.live[id].record)))
                .collect()
        };
        for batch in queued.chunks(BATCH) {
            let infos: Vec<JobInfo> = batch.iter().map(|(_, info)| info.clone()).collect();
            let ranks = self.policies.rank(&infos);
            let mut state = self.state.lock();
            for ((id, _), rank) in batch.iter().zip(ranks) {
                state.rerank(id, rank);
            }
        }
        if !queued.is_empty() {
            tracing::info!(jobs = queued.len(), "queued jobs ranked again by the scheduler now in force");
            self.wake.notify_one();
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// The WIT promises a re-rank when the scheduler plugin is (re)loaded or
    /// removed; that also ranks jobs recovered at start, which were ranked
    /// by the built-in while plugins were still loading. A thread of its own
    /// waits for plugin events (using no CPU meanwhile) and holds the engine
    /// weakly, so it ends with the engine.
    pub(super) fn rerank_on_scheduler_changes(self: &Arc<Self>) {
        let events = self.policies.subscribe();
        let engine = Arc::downgrade(self);
        let watcher = std::thread::Builder::new().name("rerank".into()).spawn(move || {
            for event in events {
                let Some(inner) = engine.upgrade().filter(|inner| !inner.shutdown.is_cancelled()) else { return };
                let (PluginEvent::Loaded { name, .. } | PluginEvent::Unloaded { name }) = &event else { continue };
                if inner.policies.selects(ExtensionPoint::Scheduler, name) {
                    inner.rerank();
                }
            }
        });
        if let Err(err) = watcher {
            tracing::error!(error = %err, "cannot start the re-rank thread; a scheduler reload will not re-rank");
        }
    }
}
