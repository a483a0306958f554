//! Budgets: how much the jobs under one may spend, in dollars and tokens,
//! over all time or a rolling window (the way subscription plans meter
//! usage, e.g. 5 hours), and the ledger of what attempts spent, from the
//! agents' own reports. Plain data and arithmetic; the engine holds back
//! starts under a spent budget (`engine/budgets.rs`).
//!
//! A budget covers every job (global), the jobs of a tag, or one job tree
//! (a root submitted with `budget_usd`). Spending is known when an attempt
//! ends (agents report their cost then), so a budget may be overrun by what
//! the jobs running when it ran out spend; each running agent is given the
//! least that remains as `--max-budget-usd` to keep that small.

use super::record::JobRecord;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Global,
    Tag(String),
    /// The tree of this root job.
    Tree(String),
}

/// A limit on spending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub name: String,
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Rolling window in seconds; none: all the spending the engine knows of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u64>,
}

/// What one attempt spent, as its agent reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    pub at_ms: u64,
    pub usd: f64,
    pub tokens: u64,
    pub root: String,
    pub tags: Vec<String>,
}

impl Spend {
    /// What `record`'s attempts spent.
    pub fn of(record: &JobRecord) -> impl Iterator<Item = Spend> + '_ {
        record.history.iter().filter(|a| a.cost_usd.is_some() || a.tokens.is_some()).map(|attempt| Spend {
            at_ms: attempt.finished_at_ms.unwrap_or(attempt.started_at_ms),
            usd: attempt.cost_usd.unwrap_or(0.0),
            tokens: attempt.tokens.unwrap_or(0),
            root: record.root_job_id.clone(),
            tags: record.tags.clone(),
        })
    }
}

/// Tokens in an agent's usage report: input, output and cache, all counted.
pub fn tokens_in(usage: &serde_json::Value) -> u64 {
    ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
        .iter()
        .filter_map(|key| usage.get(key).and_then(serde_json::Value::as_u64))
        .sum()
}

/// Where a budget stands, as `engine_stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetState {
    #[serde(flatten)]
    pub budget: Budget,
    pub spent_usd: f64,
    pub spent_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_tokens: Option<u64>,
    /// Nothing remains: no job under it starts.
    pub spent: bool,
}

impl Budget {
    /// Whether a job of tree `root` with `tags` is under it.
    pub fn covers(&self, root: &str, tags: &[String]) -> bool {
        match &self.scope {
            Scope::Global => true,
            Scope::Tag(tag) => tags.contains(tag),
            Scope::Tree(tree) => tree == root,
        }
    }

    /// Where it stands given `ledger`, at `now_ms`.
    pub fn state(&self, ledger: &Ledger, now_ms: u64) -> BudgetState {
        let since = self.window_s.map_or(0, |w| now_ms.saturating_sub(w.saturating_mul(1000)));
        let (usd, tokens) = ledger
            .spends
            .iter()
            .filter(|s| s.at_ms >= since && self.covers(&s.root, &s.tags))
            .fold((0.0, 0), |(usd, tokens), s| (usd + s.usd, tokens + s.tokens));
        let remaining_usd = self.usd.map(|limit| (limit - usd).max(0.0));
        let remaining_tokens = self.tokens.map(|limit| limit.saturating_sub(tokens));
        BudgetState {
            budget: self.clone(),
            spent_usd: usd,
            spent_tokens: tokens,
            spent: remaining_usd.is_some_and(|r| r <= 0.0) || remaining_tokens == Some(0),
            remaining_usd,
            remaining_tokens,
        }
    }
}

impl BudgetState {
    /// Why a job under it waits, in words.
    pub fn why(&self) -> String {
        let window = self.budget.window_s.map_or(String::new(), |w| {
            format!(" in the last {}", humantime::format_duration(std::time::Duration::from_secs(w)))
        });
        let amounts: Vec<String> = [
            self.budget.usd.map(|limit| format!("${:.2} of ${limit:.2}", self.spent_usd)),
            self.budget.tokens.map(|limit| format!("{} of {limit} tokens", self.spent_tokens)),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!("budget {} is spent ({}{window})", self.budget.name, amounts.join(", "))
    }
}

/// What attempts spent: as long as the budgets look back (all of it when
/// one has no window), oldest first.
#[derive(Debug, Default)]
pub struct Ledger {
    spends: VecDeque<Spend>,
}

impl Ledger {
    pub fn add(&mut self, spend: Spend) {
        let at = self.spends.partition_point(|s| s.at_ms <= spend.at_ms);
        self.spends.insert(at, spend);
    }

    /// Forgets what no budget of `budgets` looks at any more.
    pub fn forget_older_than(&mut self, budgets: &[Budget], now_ms: u64) {
        let Some(oldest) = budgets.iter().map(|b| b.window_s).try_fold(0u64, |longest, w| w.map(|w| longest.max(w)))
        else {
            return; // one looks at everything
        };
        let since = now_ms.saturating_sub(oldest.saturating_mul(1000));
        while self.spends.front().is_some_and(|s| s.at_ms < since) {
            self.spends.pop_front();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.spends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(at_ms: u64, usd: f64, tokens: u64, root: &str, tag: &str) -> Spend {
        Spend { at_ms, usd, tokens, root: root.into(), tags: vec![tag.into()] }
    }

    fn budget(scope: Scope, usd: Option<f64>, tokens: Option<u64>, window_s: Option<u64>) -> Budget {
        Budget { name: "b".into(), scope, usd, tokens, window_s }
    }

    #[test]
    fn a_budget_counts_what_its_jobs_spent_within_its_window() {
        let mut ledger = Ledger::default();
        ledger.add(spend(1_000, 0.5, 100, "r1", "nightly"));
        ledger.add(spend(9_000, 0.25, 50, "r2", "nightly"));
        ledger.add(spend(5_000, 1.0, 10, "r3", "other"));
        let nightly = budget(Scope::Tag("nightly".into()), Some(1.0), None, None).state(&ledger, 10_000);
        assert_eq!((nightly.spent_usd, nightly.remaining_usd, nightly.spent), (0.75, Some(0.25), false));
        let recent = budget(Scope::Global, Some(1.0), None, Some(6)).state(&ledger, 10_000);
        assert_eq!((recent.spent_usd, recent.spent), (1.25, true), "the last 6 s: 5 000 and 9 000");
        assert!(recent.why().contains("budget b is spent ($1.25 of $1.00 in the last 6s)"), "{}", recent.why());
        let tokens = budget(Scope::Tree("r1".into()), None, Some(100), None).state(&ledger, 10_000);
        assert_eq!((tokens.spent_tokens, tokens.remaining_tokens, tokens.spent), (100, Some(0), true));
    }

    #[test]
    fn the_ledger_keeps_what_the_longest_window_sees_or_everything() {
        let mut ledger = Ledger::default();
        for at in [1_000, 2_000, 50_000] {
            ledger.add(spend(at, 0.1, 1, "r", "t"));
        }
        let windowed = [budget(Scope::Global, Some(1.0), None, Some(10))];
        ledger.forget_older_than(&[budget(Scope::Global, None, Some(1), None), windowed[0].clone()], 55_000);
        assert_eq!(ledger.len(), 3, "a budget without a window looks at everything");
        ledger.forget_older_than(&windowed, 55_000);
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn usage_tokens_add_up_every_kind() {
        let usage = serde_json::json!({"input_tokens": 120, "output_tokens": 40, "cache_read_input_tokens": 7});
        assert_eq!(tokens_in(&usage), 167);
    }
}
