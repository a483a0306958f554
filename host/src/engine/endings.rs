//! What follows a job's end beyond the job itself, acted on by one task the
//! end wakes (`Inner::settled`): the jobs waiting for it are queued or
//! failed (`dependencies.rs`), and when it was the last live job of its
//! tree, the tree is announced: a `TreeFinished` hook event, and a
//! [`TreeSummary`] to the front-ends, which tell the session that submitted
//! the root (an MCP log notification).
//!
//! The state only notes what happened (under its lock); the work (store
//! reads, hooks) happens here, outside it.

use super::{Engine, Inner, events};
use crate::job::TreeSummary;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Finished trees a slow front-end may lag behind before it misses some.
pub(super) const TREES_BACKLOG: usize = 256;

impl Inner {
    pub(super) async fn endings_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.settled.notified() => {}
                () = self.shutdown.cancelled() => return,
            }
            let (settled, trees) = {
                let mut state = self.state.lock();
                (state.waits.take_settled(), state.take_finished_trees())
            };
            self.act_on_waits(settled);
            // Noted only while someone may listen (`Inner::follow_up`).
            for root in trees {
                tokio::spawn(self.clone().announce_tree(root));
            }
        }
    }

    /// Tells the `TreeFinished` hooks and the front-ends that the tree of
    /// `root` has finished, with its counts and cost from its records.
    async fn announce_tree(self: Arc<Self>, root: String) {
        // Its last records may still be on their way to the store.
        let records = match self.store.tree(&root) {
            Ok(records) => self.writes.with_pending(records),
            Err(err) => {
                tracing::warn!(root = %root, error = %err, "a finished job tree is not announced");
                return;
            }
        };
        // A job retried meanwhile makes it unfinished again: announced when it ends.
        let Some(summary) = TreeSummary::of(&root, &records) else { return };
        tracing::info!(root = %root, "{}", summary.line());
        self.fire(|| events::tree_finished(&summary));
        // No front-end listening is fine.
        let _ = self.trees.send(Arc::new(summary));
    }
}

impl Engine {
    /// Every job tree that finishes from now on.
    pub fn finished_trees(&self) -> broadcast::Receiver<Arc<TreeSummary>> {
        self.inner.trees.subscribe()
    }
}
