//! Why a queued job is not running yet, in words: the first limit, in the
//! order the scheduling round applies them, that holds it. A job waits when
//! any one of these is full; they combine, they do not add up:
//!
//! 1. the engine's total (`engine.max-concurrent`, by default the token
//!    slots times their concurrency);
//! 2. its depth's (`engine.max-concurrent-per-depth`);
//! 3. every token slot: its concurrency, its starts per minute, a cooldown
//!    after a rate limit;
//! 4. the jobs ranked ahead of it, when they fill the free places;
//! 5. the scheduler, which may hold a job back by its own rules (a plugin's
//!    cap per tree, say).
//!
//! Before those: a pause of the queue or a tag, and a spent budget.

use super::Settings;
use super::state::State;
use crate::job::JobStatus;
use std::time::Instant;

impl State {
    /// What waiting job `id` waits for, e.g. `after job 1f… (running), job 2a… (queued)`.
    fn waiting_after(&self, id: &str) -> String {
        let on = self.waits.on(id).unwrap_or_default();
        if on.is_empty() {
            return "what it runs after has ended; it is being queued".into();
        }
        let parents: Vec<String> = on
            .iter()
            .map(|p| match self.live.get(p) {
                Some(parent) => format!("job {p} ({})", parent.record.status.as_str()),
                None => format!("job {p}"),
            })
            .collect();
        format!("after {}", parents.join(", "))
    }

    /// Why queued or waiting job `id` waits; `None` when it is neither.
    pub(super) fn waiting_for(&mut self, id: &str, settings: &Settings, scheduler: &str) -> Option<String> {
        let live = self.live.get(id)?;
        if live.record.status == JobStatus::Waiting {
            return Some(self.waiting_after(id));
        }
        let position = self.queue.iter().position(|(_, _, queued)| queued == id)? + 1;
        if let Some(held) = self.paused.holding(&live.spec.tags) {
            return Some(held.to_string());
        }
        if let Some(why) = self.budget_holding(&live.record.root_job_id, &live.record.tags, crate::job::now_ms()) {
            return Some(why);
        }
        let depth = live.record.depth;
        if self.running >= settings.max_concurrent {
            let how = match settings.config.max_concurrent {
                Some(_) => "engine.max-concurrent",
                None => "engine.max-concurrent, by default token slots x per-token concurrency",
            };
            return Some(format!("all {} places are taken ({how})", settings.max_concurrent));
        }
        let at_depth = self.running_by_depth.get(&depth).copied().unwrap_or(0);
        let per_depth = settings.config.max_concurrent_per_depth;
        if at_depth >= per_depth {
            return Some(format!("depth {depth}: {at_depth} of {per_depth} running (engine.max-concurrent-per-depth)"));
        }
        let now = Instant::now();
        // Every slot full (no slot free means each says why).
        let full: Option<Vec<String>> = (0..self.tokens.slots.len()).map(|i| self.tokens.why_full(i, now)).collect();
        if let Some(full) = full {
            return Some(full.join("; "));
        }
        let free = settings.max_concurrent - self.running;
        if position as u32 > free {
            return Some(format!("{} jobs are ahead of it in the queue, {free} places free", position - 1));
        }
        Some(format!("the scheduler ({scheduler}) has not started it yet"))
    }
}
