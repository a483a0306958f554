//! {{name}}: a ringmaster scheduler. It decides which queued jobs start
//! now, and on which token slot.

use ringmaster_plugin::scheduler::{Assignment, ScheduleInput, Scheduler, fill_slots};
use ringmaster_plugin::{Result, config, log};

struct {{Type}};

impl Scheduler for {{Type}} {
    // `rank` orders the queue; the default ranks by priority.

    /// The best-ranked candidates, at most `max-starts` per round.
    fn select(input: ScheduleInput) -> Result<Vec<Assignment>> {
        let max_starts: usize = config::get_or("max-starts", usize::MAX)?;
        let chosen = fill_slots(&input, input.candidates.iter().take(max_starts));
        log::debug("selected", &[("started", &chosen.len()), ("queued", &input.queued_total)]);
        Ok(chosen)
    }
}

ringmaster_plugin::export_scheduler!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, candidate, job, schedule_input, slot};

    #[test]
    fn starts_at_most_max_starts_best_first() {
        let candidates = ["a", "b", "c"].map(|id| candidate(job(id))).into();
        let input = schedule_input(candidates, vec![slot(0, 4)]);
        let mut host = TestHost::new().config("max-starts", "2");
        let chosen = host.run(|| {{Type}}::select(input)).unwrap();
        let ids: Vec<&str> = chosen.iter().map(|a| a.job_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
