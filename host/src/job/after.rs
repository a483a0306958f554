//! Dependencies between jobs: what a job runs after ([`After`]), and the
//! placeholders through which its prompt takes what those jobs produced.
//!
//! A job may name jobs it runs after; it waits (`waiting`) until they have
//! all ended, then runs if they all succeeded (or whatever they ended with,
//! with `after_any_outcome`). Its prompt may quote them: `{{after.N.FIELD}}`
//! is replaced, when the job leaves `waiting`, by FIELD of the Nth job of
//! its `after` list, where FIELD is one of [`Field`]'s names. Other `{{...}}`
//! text is left alone (prompts quote templates of their own). A quoted
//! result or error is cut to [`QUOTE_BYTES`], and the prompt as a whole to
//! the configured prompt limit, saying where it was cut and how to read the
//! rest (`job_result`).
//!
//! A cycle cannot be formed: a job runs only after jobs that exist when it
//! is submitted, or after earlier entries of its own batch ([`After::Entry`];
//! a later or its own entry is refused as the cycle it would make).

use super::{JobRecord, JobStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A job this one runs after.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum After {
    /// A job's id.
    Job(String),
    /// The index of an earlier entry of the same batch (`job_batch` only).
    Entry(usize),
}

impl After {
    /// The job's id, when it is named by id.
    pub fn job(&self) -> Option<&str> {
        match self {
            After::Job(id) => Some(id),
            After::Entry(_) => None,
        }
    }
}

impl std::fmt::Display for After {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            After::Job(id) => write!(f, "job {id}"),
            After::Entry(index) => write!(f, "batch entry {index}"),
        }
    }
}

impl std::str::FromStr for After {
    type Err = String;

    /// From the command line: a job id (a batch entry cannot be named there).
    fn from_str(text: &str) -> Result<After, String> {
        Ok(After::Job(text.to_string()))
    }
}

/// The most jobs one job may run after.
pub const MAX_AFTER: usize = 1000;
/// The most bytes of a result or error one placeholder quotes.
pub const QUOTE_BYTES: usize = 16 * 1024;

const OPEN: &str = "{{after.";
const CLOSE: &str = "}}";

/// What a placeholder quotes of the job it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The agent's final text (empty unless it succeeded).
    Result,
    /// Why it failed (empty unless it did).
    Error,
    Status,
    JobId,
}

impl Field {
    const ALL: [(&'static str, Field); 4] =
        [("result", Field::Result), ("error", Field::Error), ("status", Field::Status), ("job_id", Field::JobId)];
}

/// A placeholder in a prompt: where it is, and what it quotes.
#[derive(Debug, PartialEq, Eq)]
struct Placeholder {
    range: std::ops::Range<usize>,
    index: usize,
    field: Field,
}

/// The `{{after.N.FIELD}}` placeholders of `prompt`, in order; an error
/// names the first malformed one, or one whose N is not below `after`.
fn placeholders(prompt: &str, after: usize) -> Result<Vec<Placeholder>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = prompt[from..].find(OPEN).map(|at| from + at) {
        let body_at = at + OPEN.len();
        let Some(len) = prompt[body_at..].find(CLOSE) else {
            return Err(format!("the prompt's placeholder at byte {at} has no closing `}}}}`"));
        };
        let body = &prompt[body_at..body_at + len];
        let shown = &prompt[at..body_at + len + CLOSE.len()];
        let (index, field) = body.split_once('.').ok_or_else(|| malformed(shown))?;
        let index: usize = index.parse().map_err(|_| malformed(shown))?;
        let field = Field::ALL.iter().find(|(name, _)| *name == field).ok_or_else(|| malformed(shown))?.1;
        if index >= after {
            return Err(format!(
                "the prompt's placeholder {shown} names entry {index} of `after`, which has {after} entries \
                 (counted from 0)"
            ));
        }
        from = body_at + len + CLOSE.len();
        found.push(Placeholder { range: at..from, index, field });
    }
    Ok(found)
}

fn malformed(shown: &str) -> String {
    let fields: Vec<&str> = Field::ALL.iter().map(|(name, _)| *name).collect();
    format!("the prompt's placeholder {shown} is not {{{{after.N.FIELD}}}} with FIELD one of {}", fields.join(", "))
}

/// Checks the placeholders of `prompt` for a job after `after` jobs.
pub fn check_placeholders(prompt: &str, after: usize) -> Result<(), String> {
    placeholders(prompt, after).map(drop)
}

/// `prompt` with its placeholders replaced from `parents` (the records of
/// the jobs it runs after, in `after` order; `None` for one no longer kept),
/// at most `max_bytes` long. Placeholders were checked at submission.
pub fn render(prompt: &str, parents: &[Option<JobRecord>], max_bytes: usize) -> String {
    let Ok(found) = placeholders(prompt, parents.len()) else { return prompt.to_string() };
    let mut out = String::with_capacity(prompt.len());
    let mut copied = 0;
    // What the prompt keeps whatever the quotes: its own text.
    let mut own_left = prompt.len() - found.iter().map(|p| p.range.len()).sum::<usize>();
    for placeholder in found {
        out.push_str(&prompt[copied..placeholder.range.start]);
        own_left -= placeholder.range.start - copied;
        copied = placeholder.range.end;
        let room = max_bytes.saturating_sub(out.len() + own_left);
        quote(&mut out, parents[placeholder.index].as_ref(), placeholder.field, room);
    }
    out.push_str(&prompt[copied..]);
    out
}

/// Appends `field` of `parent` to `out`, cut to fit `room` bytes and [`QUOTE_BYTES`].
fn quote(out: &mut String, parent: Option<&JobRecord>, field: Field, room: usize) {
    let Some(parent) = parent else {
        out.push_str("[no longer kept by ringmaster]");
        return;
    };
    let text = match field {
        Field::Result => parent.result.as_deref().unwrap_or(""),
        Field::Error => parent.error.as_deref().unwrap_or(""),
        Field::Status => parent.status.as_str(),
        Field::JobId => &parent.job_id,
    };
    let limit = room.min(QUOTE_BYTES);
    if text.len() <= limit {
        out.push_str(text);
        return;
    }
    let note = format!(" [cut: {} bytes in all; job_result {} has the whole]", text.len(), parent.job_id);
    let mut end = limit.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
    if note.len() <= limit {
        out.push_str(&note);
    }
}

/// Whether a job that runs after a job that ended with `status` may run.
pub fn satisfied(status: JobStatus, any_outcome: bool) -> bool {
    status == JobStatus::Succeeded || (any_outcome && status.is_terminal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(id: &str, status: JobStatus, result: &str) -> Option<JobRecord> {
        let mut record = JobRecord::for_tests(id);
        record.status = status;
        match status {
            JobStatus::Succeeded => record.result = Some(result.into()),
            _ => record.error = Some(result.into()),
        }
        Some(record)
    }

    #[test]
    fn placeholders_are_replaced_by_what_the_named_jobs_produced() {
        let parents = [parent("a", JobStatus::Succeeded, "3 tests fail"), parent("b", JobStatus::Failed, "boom")];
        let prompt = "Fix: {{after.0.result}}. Other: {{after.1.status}} ({{after.1.error}}) {{after.1.job_id}}; \
                      keep {{name}} and {{after}} as they are";
        assert_eq!(
            render(prompt, &parents, 1 << 20),
            "Fix: 3 tests fail. Other: failed (boom) b; keep {{name}} and {{after}} as they are"
        );
        assert_eq!(render("x {{after.0.result}}", &[None], 100), "x [no longer kept by ringmaster]");
    }

    #[test]
    fn a_malformed_placeholder_or_one_beyond_the_list_is_refused_naming_it() {
        assert!(check_placeholders("a {{after.0.result}} b", 1).is_ok());
        let err = check_placeholders("{{after.2.result}}", 2).unwrap_err();
        assert!(err.contains("{{after.2.result}}") && err.contains("has 2 entries"), "{err}");
        let err = check_placeholders("{{after.0.cost}}", 1).unwrap_err();
        assert!(err.contains("{{after.0.cost}}") && err.contains("result, error, status, job_id"), "{err}");
        assert!(check_placeholders("{{after.x.result}}", 1).unwrap_err().contains("{{after.x.result}}"));
        assert!(check_placeholders("{{after.0.result", 1).unwrap_err().contains("no closing"));
    }

    #[test]
    fn long_quotes_are_cut_on_a_character_boundary_saying_where_the_rest_is() {
        let long = "é".repeat(QUOTE_BYTES);
        let rendered = render("R: {{after.0.result}}", &[parent("a", JobStatus::Succeeded, &long)], 1 << 20);
        assert!(rendered.len() <= "R: ".len() + QUOTE_BYTES, "{}", rendered.len());
        assert!(rendered.ends_with(&format!("[cut: {} bytes in all; job_result a has the whole]", long.len())));
        // The whole prompt stays within the limit, its own text kept.
        let rendered = render("{{after.0.result}} END", &[parent("a", JobStatus::Succeeded, &"x".repeat(500))], 200);
        assert!(rendered.len() <= 200 && rendered.ends_with(" END"), "{} {rendered}", rendered.len());
    }

    #[test]
    fn only_success_satisfies_unless_any_outcome_does() {
        assert!(satisfied(JobStatus::Succeeded, false));
        assert!(!satisfied(JobStatus::Failed, false) && !satisfied(JobStatus::Cancelled, false));
        assert!(satisfied(JobStatus::TimedOut, true));
        assert!(!satisfied(JobStatus::Running, true));
    }
}
