//! Markdown command files, as Claude Code reads them: optional YAML
//! frontmatter between `---` lines, then the prompt template.
//!
//! ```markdown
//! ---
//! description: Review the diff against a base ref
//! argument-hint: "[base-ref]"
//! allowed-tools: Read, Grep, Bash(git diff:*)
//! model: sonnet
//! tags: [review]        # ringmaster's own keys: priority, tags, timeout_s, agent, max_retries
//! ---
//! Review `git diff $ARGUMENTS...HEAD`.
//! ```
//!
//! Claude Code ignores keys it does not know, so files written for it carry
//! keys of later versions; we do the same, with a warning, rather than
//! refusing a file a user copied in unchanged.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed command file.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkdownCommand {
    /// The name users type after `/`: the file name without `.md`.
    pub name: String,
    /// Subfolder path under the command directory (`frontend`, `a:b`), if any.
    pub namespace: Option<String>,
    pub description: String,
    pub argument_hint: Option<String>,
    pub options: CommandOptions,
    /// The prompt template.
    pub body: String,
    /// Frontmatter keys that were ignored.
    pub warnings: Vec<String>,
}

/// Job options a command's frontmatter sets; `None`/empty keeps the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandOptions {
    pub allowed_tools: Vec<String>,
    pub model: Option<String>,
    pub agent: Option<String>,
    pub priority: Option<i32>,
    pub tags: Vec<String>,
    pub timeout_s: Option<u64>,
    pub max_retries: Option<u32>,
}

/// Claude Code writes lists either as YAML lists or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    String(String),
}

impl ListOrString {
    fn into_vec(self) -> Vec<String> {
        match self {
            ListOrString::List(items) => items,
            ListOrString::String(text) => {
                text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Frontmatter {
    description: Option<String>,
    #[serde(rename = "argument-hint")]
    argument_hint: Option<String>,
    #[serde(rename = "allowed-tools")]
    allowed_tools: Option<ListOrString>,
    model: Option<String>,
    /// Claude Code's; meaningless for a job, accepted so copied files stay quiet.
    #[serde(rename = "disable-model-invocation")]
    _disable_model_invocation: Option<bool>,
    agent: Option<String>,
    priority: Option<i32>,
    tags: Option<ListOrString>,
    #[serde(alias = "timeout-s")]
    timeout_s: Option<u64>,
    #[serde(alias = "max-retries")]
    max_retries: Option<u32>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_yaml::Value>,
}

/// Parses `bytes`, the content of `path`; `namespace` comes from its folder.
/// Errors name the line (1-based, in the whole file) and what was wrong.
pub fn parse(path: &Path, namespace: Option<String>, bytes: &[u8]) -> Result<MarkdownCommand, String> {
    let name = path.file_stem().and_then(|s| s.to_str()).ok_or("the file name is not valid UTF-8")?.to_string();
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let line = bytes[..err.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        format!("line {line}: the file is not valid UTF-8; save it as UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err("the file is empty; a command file holds the prompt to send (after optional frontmatter)".into());
    }
    let (frontmatter, body) = split_frontmatter(text)?;
    let meta: Frontmatter = match frontmatter {
        None => Frontmatter::default(),
        Some(yaml) if yaml.trim().is_empty() => Frontmatter::default(),
        Some(yaml) => serde_yaml::from_str(yaml).map_err(|err| match err.location() {
            // +1: the opening `---` line.
            Some(loc) => format!("line {}: bad frontmatter: {err}", loc.line() + 1),
            None => format!("bad frontmatter: {err}"),
        })?,
    };
    let body = body.trim().to_string();
    if body.is_empty() {
        return Err("the command has no prompt after its frontmatter".into());
    }
    let description = meta.description.clone().unwrap_or_else(|| first_line(&body));
    let warnings = meta.unknown.keys().map(|key| format!("unknown frontmatter key `{key}` ignored")).collect();
    Ok(MarkdownCommand {
        name,
        namespace,
        description,
        argument_hint: meta.argument_hint,
        options: CommandOptions {
            allowed_tools: meta.allowed_tools.map(ListOrString::into_vec).unwrap_or_default(),
            model: meta.model,
            agent: meta.agent,
            priority: meta.priority,
            tags: meta.tags.map(ListOrString::into_vec).unwrap_or_default(),
            timeout_s: meta.timeout_s,
            max_retries: meta.max_retries,
        },
        body,
        warnings,
    })
}

/// Splits `---\nYAML\n---\nbody`; a file not starting with `---` is all body.
fn split_frontmatter(text: &str) -> Result<(Option<&str>, &str), String> {
    let Some(rest) = text.strip_prefix("---").filter(|r| r.starts_with('\n') || r.starts_with("\r\n")) else {
        return Ok((None, text));
    };
    let rest = rest.trim_start_matches('\r').strip_prefix('\n').unwrap_or(rest);
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((Some(&rest[..offset]), &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err("line 1: the frontmatter opened with `---` is never closed; end it with a line holding only `---`".into())
}

/// The first non-empty line of `body`, without heading marks: Claude Code's
/// default description.
fn first_line(body: &str) -> String {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let line = line.trim_start_matches('#').trim();
    line.chars().take(120).collect()
}

/// The `.md` files under `dir` and its subfolders, in a stable order.
/// Hidden files and folders are skipped.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if crate::watch::is_hidden_or_backup(&path) {
            continue;
        }
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(&path, found),
            Ok(_) if path.extension().is_some_and(|e| e == "md") => found.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<MarkdownCommand, String> {
        parse(Path::new("/c/review.md"), None, text.as_bytes())
    }

    #[test]
    fn claude_code_frontmatter_and_ringmaster_keys() {
        let command = parse_text(
            "---\ndescription: Review it\nargument-hint: \"[ref]\"\nallowed-tools: Read, Bash(git diff:*)\n\
             model: sonnet\ndisable-model-invocation: true\npriority: 2\ntags: [review, ci]\ntimeout_s: 600\n\
             agent: reviewer\nmax_retries: 1\n---\nReview $ARGUMENTS\n",
        )
        .unwrap();
        assert_eq!(command.name, "review");
        assert_eq!(command.description, "Review it");
        assert_eq!(command.argument_hint.as_deref(), Some("[ref]"));
        assert_eq!(command.options.allowed_tools, ["Read", "Bash(git diff:*)"]);
        assert_eq!(command.options.model.as_deref(), Some("sonnet"));
        assert_eq!(command.options.tags, ["review", "ci"]);
        assert_eq!(
            (command.options.priority, command.options.timeout_s, command.options.max_retries),
            (Some(2), Some(600), Some(1))
        );
        assert_eq!(command.options.agent.as_deref(), Some("reviewer"));
        assert_eq!(command.body, "Review $ARGUMENTS");
        assert!(command.warnings.is_empty(), "{:?}", command.warnings);
    }

    #[test]
    fn no_frontmatter_takes_the_first_line_as_description() {
        let command = parse_text("\n# Fix the build\n\nThen run tests.").unwrap();
        assert_eq!(command.description, "Fix the build");
        assert_eq!(command.body, "# Fix the build\n\nThen run tests.");
    }

    #[test]
    fn unknown_keys_are_warnings_not_errors() {
        let command = parse_text("---\ndescription: x\nfuture-key: 1\n---\nbody").unwrap();
        assert_eq!(command.warnings, ["unknown frontmatter key `future-key` ignored"]);
    }

    #[test]
    fn bad_input_names_the_line() {
        let err = parse_text("---\ndescription: x\ntags: [a\n---\nbody").unwrap_err();
        assert!(err.starts_with("line 4: bad frontmatter"), "{err}");
        let err = parse_text("---\ndescription: x\nbody").unwrap_err();
        assert!(err.contains("never closed"), "{err}");
        let err = parse_text(" \n\n").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse(Path::new("x.md"), None, b"ok\nfine\n\xff\xfe").unwrap_err();
        assert!(err.starts_with("line 3:") && err.contains("UTF-8"), "{err}");
        let err = parse_text("---\ndescription: x\n---\n").unwrap_err();
        assert!(err.contains("no prompt"), "{err}");
    }

    #[test]
    fn crlf_files_parse() {
        let command = parse_text("---\r\ndescription: x\r\n---\r\nbody\r\n").unwrap();
        assert_eq!((command.description.as_str(), command.body.as_str()), ("x", "body"));
    }
}
