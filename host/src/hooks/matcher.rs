//! Matchers, as in Claude Code's hook settings: `*`, empty or absent match
//! everything; text made only of name characters (`[A-Za-z0-9_- ]`) and the
//! separators `|` and `,` is a list of exact names; anything else is an
//! unanchored regular expression (`Edit.*` also matches `NotebookEdit`).

use regex::Regex;

#[derive(Debug, Clone)]
pub enum Matcher {
    All,
    Names(Vec<String>),
    Regex(Regex),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::All, Matcher::All) => true,
            (Matcher::Names(a), Matcher::Names(b)) => a == b,
            (Matcher::Regex(a), Matcher::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Matcher {
    /// Parses a matcher; an invalid regex is an error saying so.
    pub fn parse(text: Option<&str>) -> Result<Matcher, String> {
        let text = text.unwrap_or("").trim();
        if text.is_empty() || text == "*" {
            return Ok(Matcher::All);
        }
        let is_name_list = text.chars().all(|c| c.is_ascii_alphanumeric() || "_- ,|".contains(c));
        if is_name_list {
            let names = text.split(['|', ',']).map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect();
            return Ok(Matcher::Names(names));
        }
        Regex::new(text).map(Matcher::Regex).map_err(|err| format!("matcher {text:?} is not a valid regex: {err}"))
    }

    /// Whether any of `subjects` (what the event names: a tool, or a job's
    /// agent and tags) matches. An event that names nothing only matches `*`.
    pub fn matches(&self, subjects: &[&str]) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Names(names) => subjects.iter().any(|s| names.iter().any(|n| n == s)),
            Matcher::Regex(re) => subjects.iter().any(|s| re.is_match(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(Some(text)).unwrap()
    }

    #[test]
    fn claude_code_matcher_rules() {
        assert!(Matcher::parse(None).unwrap().matches(&[]));
        assert!(m("").matches(&["Bash"]) && m("*").matches(&["Bash"]));
        assert!(m("Edit|Write").matches(&["Write"]));
        assert!(m("Edit, Write").matches(&["Write"]));
        assert!(!m("Edit|Write").matches(&["NotebookEdit"]), "names are exact");
        assert!(m("Edit.*").matches(&["NotebookEdit"]), "regexes are unanchored");
        assert!(m("^mcp__ringmaster__").matches(&["mcp__ringmaster__job_submit"]));
        assert!(!m("Bash").matches(&[]));
        assert!(m("review").matches(&["claude", "ci", "review"]), "any subject");
        let err = Matcher::parse(Some("Edit(")).unwrap_err();
        assert!(err.contains("not a valid regex"), "{err}");
    }
}
