//! The engine's life: starting on its store (recovering what a previous run
//! left unfinished), the background tasks that keep it going (pruning old
//! jobs, resuming after the store failed), and stopping.

use super::persist::Writes;
use super::state::{Live, State};
use super::tokens::TokenPool;
use super::{Engine, EngineOptions, Inner, Settings, events, job_info};
use crate::contract::FailureKind;
use crate::job::{JobStatus, now_ms};
use crate::store::StoreError;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// How often old jobs are pruned from the store.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Lets the slots that were resting when the engine stopped rest on, as
/// stored: a rest is kept while the slot holds the same token.
fn rest_slots(tokens: &mut TokenPool, rests: Vec<(usize, String, u64)>) {
    let (now, now_ms) = (std::time::Instant::now(), now_ms());
    for (slot, token, until_ms) in rests {
        let same = tokens
            .slots
            .get(slot)
            .is_some_and(|s| s.token.as_ref().map(|t| t.fingerprint()).unwrap_or_default() == token);
        if same && until_ms > now_ms {
            tokens.cool_down(slot, now + Duration::from_millis(until_ms - now_ms));
        }
    }
}

impl Engine {
    /// Opens the engine on its store: unfinished jobs from a previous run are
    /// queued again (those that were running are handed to the retry policy
    /// as interrupted), and the scheduling loop starts.
    pub async fn start(options: EngineOptions) -> Result<Engine, StoreError> {
        let EngineOptions {
            config,
            agents,
            project_dir,
            tokens,
            credential_vars,
            policies,
            hooks,
            store,
            wiring,
            state_dir,
        } = options;
        let tokens = TokenPool::new(
            tokens,
            config.per_token_concurrency,
            config.token_starts_per_minute,
            Duration::from_secs(60),
        );
        let mut tokens = tokens;
        rest_slots(&mut tokens, store.rests()?);
        let token_capacity = tokens.capacity();
        let unfinished = store.unfinished()?;
        let mut state = State::new(tokens);
        state.paused = store.pauses()?;
        state.budgets = super::config_budgets(&config);
        // What the jobs the store still has spent, for the budgets.
        let now = now_ms();
        for record in store.list(&crate::job::JobFilter::default(), crate::store::MAX_ROWS)? {
            for spend in crate::job::budget::Spend::of(&record) {
                state.spend(spend, now);
            }
        }
        let schedules = super::schedules::Schedules::load(store.schedules()?);
        let last_seq = AtomicI64::new(store.last_seq()?);
        let store = Arc::new(store);
        let writes = Writes::start(store.clone()).map_err(|err| StoreError::Writer(err.to_string()))?;
        let git = crate::git::Git::new(std::env::vars(), |name| {
            crate::executor::shell::BASE_ENV.contains(&name) || name.starts_with("LC_")
        });
        let workspaces = super::isolation::Workspaces::new(&state_dir, &project_dir, git);
        let inner = Arc::new(Inner {
            settings: ArcSwap::from_pointee(Settings::new(config, agents, token_capacity)),
            token_capacity,
            project_dir,
            credential_vars,
            policies,
            hooks,
            store,
            writes,
            last_seq,
            wiring,
            state: Mutex::new(state),
            draining: Default::default(),
            admission: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            settled: Notify::new(),
            schedules: Mutex::new(schedules),
            schedules_changed: Notify::new(),
            workspaces,
            trees: tokio::sync::broadcast::Sender::new(super::endings::TREES_BACKLOG),
            changed: watch::Sender::new(0),
            ended: watch::Sender::new(0),
            activity: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        });
        let engine = Engine { inner };
        engine.recover(unfinished).await?;
        let inner = engine.inner.clone();
        tokio::spawn(async move { inner.scheduling_loop().await });
        tokio::spawn(engine.inner.clone().endings_loop());
        // After the recovery: a run caught up joins the recovered queue.
        tokio::spawn(engine.inner.clone().schedules_loop());
        engine.inner.rerank_on_scheduler_changes();
        let inner = engine.inner.clone();
        tokio::spawn(async move { inner.pruning_loop().await });
        tokio::spawn(engine.inner.clone().resume_when_store_repaired());
        tokio::spawn(engine.inner.clone().workspaces_loop());
        Ok(engine)
    }

    async fn recover(&self, jobs: Vec<crate::store::StoredJob>) -> Result<(), StoreError> {
        let mut trees: HashMap<String, u32> = HashMap::new();
        for stored in jobs {
            let id = stored.record.job_id.clone();
            let status = stored.record.status;
            let retry_at = stored.record.retry_at_ms;
            let root = &stored.record.root_job_id;
            let tree_size = match trees.get(root) {
                Some(size) => *size,
                None => *trees.entry(root.clone()).or_insert(self.inner.store.count_in_tree(root)? as u32),
            };
            let mut spec = stored.spec;
            if status != JobStatus::Waiting && !stored.record.after.is_empty() {
                // Its prompt was rendered when it left `waiting`; not stored.
                spec.prompt = self.inner.rendered_prompt(&spec, &stored.record);
            }
            let rank = self.inner.rank(job_info(&spec, &stored.record)).await;
            let live = Live::new(spec, stored.record, stored.seq, rank, self.inner.shutdown.child_token());
            self.inner.state.lock().adopt(live, tree_size);
            match status {
                JobStatus::Waiting => {
                    // Its parents were adopted before it (they were submitted
                    // first); the others have ended, in the store.
                    let ended = self.inner.ended_parents(&id)?;
                    let mut state = self.inner.state.lock();
                    if let Some(settled) = state.wait_after(&id, &ended) {
                        state.waits.push_settled(settled);
                    }
                }
                JobStatus::Running => {
                    let killed = crate::executor::kill_leftovers(&id);
                    if killed > 0 {
                        tracing::warn!(job = %id, processes = killed, "killed processes left over from the interrupted attempt");
                    }
                    let message = "ringmaster stopped while the attempt was running".to_string();
                    tracing::warn!(job = %id, "job was running when ringmaster stopped; handing it to the retry policy");
                    self.inner.clone().fail_attempt(&id, FailureKind::Interrupted, message, None).await;
                }
                JobStatus::RetryWait => {
                    let delay = Duration::from_millis(retry_at.unwrap_or(0).saturating_sub(now_ms()));
                    self.inner.clone().requeue_after(id, delay);
                }
                _ => {}
            }
        }
        // A tree whose budgeted root has ended keeps its budget while it lives.
        let roots: Vec<String> = {
            let state = self.inner.state.lock();
            let mut roots: Vec<String> = state.live.values().map(|l| l.record.root_job_id.clone()).collect();
            roots.sort();
            roots.dedup();
            roots.retain(|root| !state.live.contains_key(root));
            roots
        };
        for root in roots {
            if let Some(usd) = self.inner.store.get(&root)?.and_then(|stored| stored.spec.budget_usd) {
                self.inner.state.lock().tree_budgets.insert(root, usd);
            }
        }
        self.inner.wake.notify_one();
        self.inner.settled.notify_one();
        Ok(())
    }

    /// Stops the scheduling loop and every running agent (their jobs count as
    /// interrupted at the next start).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        // What is queued for the store goes in before this returns, so that
        // the next engine on the same store finds it. The writer stays, for
        // what the attempts ending now still record.
        self.inner.writes.flush_blocking();
    }

    /// Runs the `Shutdown` hooks, then shuts down.
    pub async fn stop(&self) {
        let (queued, running) = {
            let state = self.inner.state.lock();
            (state.queue.len(), state.running)
        };
        self.inner.hook(|| events::shutdown(queued, running)).await;
        self.shutdown();
    }
}

impl Drop for Inner {
    /// The last handle is gone: write what is left and stop the writer.
    fn drop(&mut self) {
        self.writes.close();
    }
}

impl Inner {
    /// Wakes the scheduling loop and the waiters when the store takes
    /// writes again after failing (see [`persist`]).
    async fn resume_when_store_repaired(self: Arc<Self>) {
        let mut fault = self.writes.subscribe_fault();
        loop {
            tokio::select! {
                changed = fault.changed() => if changed.is_err() { return },
                () = self.shutdown.cancelled() => return,
            }
            if fault.borrow_and_update().is_none() {
                self.wake.notify_one();
                self.changed.send_modify(|n| *n += 1);
            }
        }
    }

    /// Deletes old finished jobs now and every [`PRUNE_EVERY`].
    async fn pruning_loop(self: Arc<Self>) {
        loop {
            let (keep_days, keep) = {
                let settings = self.settings.load();
                (settings.config.keep_days, settings.config.keep_jobs)
            };
            let cutoff = now_ms().saturating_sub(keep_days.saturating_mul(86_400_000));
            let store = self.clone();
            let writable = self.writes.writable().is_ok();
            let pruned =
                tokio::task::spawn_blocking(move || if writable { store.store.prune(cutoff, keep) } else { Ok(0) });
            match pruned.await {
                Ok(Ok(0)) => {}
                Ok(Ok(pruned)) => {
                    tracing::info!(pruned, "deleted old finished jobs (engine.keep-days, engine.keep-jobs)")
                }
                Ok(Err(err)) => tracing::error!(error = %err, "cannot prune old jobs"),
                Err(err) => tracing::error!(error = %err, "pruning panicked"),
            }
            tokio::select! {
                () = tokio::time::sleep(PRUNE_EVERY) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}
