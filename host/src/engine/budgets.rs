//! Budgets in the engine's state (see [`crate::job::budget`]): the
//! configured ones and those of job trees submitted with `budget_usd`, the
//! ledger of what attempts spent, and the questions the scheduling asks of
//! them: is this job held back by a spent budget, how much may its agent
//! spend. A held job stays queued, in its place; `waiting_for` names the
//! budget. Spending ages out of a windowed budget by itself: the scheduling
//! loop's periodic round starts what it frees.

use super::state::State;
use crate::job::budget::{Budget, BudgetState, Scope, Spend};

impl State {
    /// Every budget in force: the configured ones, then the trees'.
    fn all_budgets(&self) -> impl Iterator<Item = Budget> + '_ {
        self.budgets.iter().cloned().chain(self.tree_budgets.iter().map(|(root, usd)| Budget {
            name: format!("tree {root}"),
            scope: Scope::Tree(root.clone()),
            usd: Some(*usd),
            tokens: None,
            window_s: None,
        }))
    }

    /// Where every budget stands at `now_ms`.
    pub fn budget_states(&self, now_ms: u64) -> Vec<BudgetState> {
        self.all_budgets().map(|b| b.state(&self.ledger, now_ms)).collect()
    }

    /// The budgets with nothing left at `now_ms`.
    pub fn spent_budgets(&self, now_ms: u64) -> Vec<BudgetState> {
        self.budget_states(now_ms).into_iter().filter(|b| b.spent).collect()
    }

    /// Why a job of tree `root` with `tags` may not start: a spent budget over it.
    pub fn budget_holding(&self, root: &str, tags: &[String], now_ms: u64) -> Option<String> {
        self.all_budgets()
            .filter(|b| b.covers(root, tags))
            .map(|b| b.state(&self.ledger, now_ms))
            .find(|state| state.spent)
            .map(|state| state.why())
    }

    /// The least that remains, in dollars, of the budgets over a job of
    /// tree `root` with `tags`: what its agent may spend.
    pub fn remaining_usd(&self, root: &str, tags: &[String], now_ms: u64) -> Option<f64> {
        self.all_budgets()
            .filter(|b| b.covers(root, tags))
            .filter_map(|b| b.state(&self.ledger, now_ms).remaining_usd)
            .min_by(f64::total_cmp)
    }

    /// Books what an attempt spent.
    pub fn spend(&mut self, spend: Spend, now_ms: u64) {
        self.ledger.add(spend);
        let budgets: Vec<Budget> = self.all_budgets().collect();
        self.ledger.forget_older_than(&budgets, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::tests::{ROOMY, WIDE, live, state};
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_spent_budget_holds_back_the_starts_under_it_and_a_window_lets_them_go_again() {
        let mut state = state();
        state.budgets = vec![Budget {
            name: "nightly".into(),
            scope: Scope::Tag("nightly".into()),
            usd: Some(1.0),
            tokens: None,
            window_s: Some(10),
        }];
        let mut tagged = live("a", "a", 0, 1, 0);
        tagged.record.tags = vec!["nightly".into()];
        state.admit(tagged, ROOMY, 0).unwrap();
        state.admit(live("b", "b", 0, 2, 0), ROOMY, 0).unwrap();
        let spend = Spend { at_ms: 1_000, usd: 1.5, tokens: 10, root: "x".into(), tags: vec!["nightly".into()] };
        state.spend(spend, 1_000);
        let tags = ["nightly".to_string()];
        assert!(state.budget_holding("a", &tags, 2_000).unwrap().contains("budget nightly is spent ($1.50 of $1.00"));
        assert_eq!(state.remaining_usd("a", &tags, 2_000), Some(0.0));
        assert_eq!(state.remaining_usd("b", &[], 2_000), None, "no budget over it");
        let now = Instant::now();
        assert!(state.start("a", 0, WIDE, now, 2_000).is_none(), "held by the spent budget");
        assert!(state.start("b", 0, WIDE, now, 2_000).is_some(), "not under it");
        // Ten seconds on, the spending has left the window.
        assert!(state.budget_holding("a", &tags, 11_001).is_none());
        assert!(state.start("a", 0, WIDE, now, 11_001).is_some());
    }

    #[test]
    fn a_tree_budget_covers_its_tree_alone() {
        let mut state = state();
        state.tree_budgets.insert("r".into(), 0.5);
        state.spend(Spend { at_ms: 1, usd: 0.25, tokens: 0, root: "r".into(), tags: vec![] }, 1);
        state.spend(Spend { at_ms: 1, usd: 9.0, tokens: 0, root: "other".into(), tags: vec![] }, 1);
        assert_eq!(state.remaining_usd("r", &[], 2), Some(0.25));
        assert!(state.budget_holding("r", &[], 2).is_none());
        state.spend(Spend { at_ms: 2, usd: 0.25, tokens: 0, root: "r".into(), tags: vec![] }, 2);
        assert!(state.budget_holding("r", &[], 3).unwrap().contains("budget tree r is spent"));
        assert!(state.budget_holding("other", &[], 3).is_none());
    }
}
