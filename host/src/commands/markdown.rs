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
//! Claude Code reads frontmatter leniently, and files in the wild rely on
//! it: `argument-hint: [pr-number] [priority]` is not valid YAML, and
//! `argument-hint: [project-name]` is a YAML list, yet both are meant as
//! text. So do we: each key's value is taken from the YAML when the
//! frontmatter parses and the value has the expected shape, and otherwise as
//! the text written after the key. Claude Code also ignores keys it does not
//! know, so files written for it carry keys of later versions; we do the
//! same, with a warning, rather than refusing a file a user copied in
//! unchanged. Only ringmaster's own keys, which no file written for Claude
//! Code carries, are strict: a `priority` that is not a number is an error.
//!
//! A skill (`NAME/SKILL.md`, the format Claude Code now prefers for
//! commands) is a command named after its folder; the other files of a
//! skill's folder are its material, not commands.
//!
//! Length: 320 lines of parsing, the rest tests of the forms Claude Code's
//! files take; one format, one file.

use crate::job::bounds;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A skill's file name.
pub const SKILL_FILE: &str = "SKILL.md";

/// A parsed command file.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkdownCommand {
    /// The name users type after `/`: the file name without `.md`, or a
    /// skill's folder name.
    pub name: String,
    /// Subfolder path under the command directory (`frontend`, `a:b`), if any.
    pub namespace: Option<String>,
    pub description: String,
    pub argument_hint: Option<String>,
    pub options: CommandOptions,
    /// The prompt template.
    pub body: String,
    /// What was ignored or read leniently.
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

/// Keys Claude Code reads (or accepts) that mean nothing for a job.
const CLAUDE_CODE_KEYS: [&str; 5] = ["disable-model-invocation", "name", "version", "license", "user-invocable"];

/// One frontmatter key: its YAML value when the frontmatter is YAML, and
/// the text written after it (with the items of a block list below it).
#[derive(Debug, Default)]
struct Field {
    yaml: Option<Value>,
    text: String,
    items: Vec<String>,
}

impl Field {
    /// The value as text: a YAML scalar, else what was written; none when empty.
    fn text(&self) -> Option<String> {
        let text = match &self.yaml {
            Some(Value::Null) => return None,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => unquote(&self.text).to_string(),
        };
        (!text.trim().is_empty()).then_some(text)
    }

    /// The value as a list: a YAML list, or a comma-separated string (the
    /// two ways Claude Code's files write `allowed-tools`).
    fn list(&self) -> Vec<String> {
        let split = |text: &str| -> Vec<String> {
            text.split(',').map(|s| unquote(s.trim()).to_string()).filter(|s| !s.is_empty()).collect()
        };
        match &self.yaml {
            Some(Value::Sequence(items)) => {
                items.iter().filter_map(|item| Field { yaml: Some(item.clone()), ..Field::default() }.text()).collect()
            }
            Some(Value::Null) => Vec::new(),
            Some(_) => self.text().map(|t| split(&t)).unwrap_or_default(),
            None if !self.items.is_empty() => self.items.iter().map(|i| unquote(i).to_string()).collect(),
            None => split(self.text.trim().trim_start_matches('[').trim_end_matches(']')),
        }
    }

    /// A whole number within `range` (ringmaster's keys: strict).
    fn number<T: TryFrom<i64>>(&self, key: &str, range: std::ops::RangeInclusive<i64>) -> Result<Option<T>, String> {
        let Some(text) = self.text() else { return Ok(None) };
        let n: i128 = text.trim().parse().map_err(|_| format!("`{key}` must be a whole number, not {text:?}"))?;
        let in_range = i64::try_from(n).ok().filter(|n| range.contains(n));
        let Some(n) = in_range else {
            return Err(format!("`{key}` is {n}; it must be between {} and {}", range.start(), range.end()));
        };
        T::try_from(n).map(Some).map_err(|_| format!("`{key}` is out of range"))
    }
}

/// The surrounding quotes of a value written as `"text"` or `'text'`.
fn unquote(text: &str) -> &str {
    let text = text.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

/// The frontmatter's keys. The YAML parse supplies typed values when the
/// whole frontmatter is YAML; a line-by-line reading supplies the text of
/// every top-level key either way (`key: text`, then indented continuation
/// lines or `- item` lines).
fn fields(yaml: &str, warnings: &mut Vec<String>) -> Result<BTreeMap<String, Field>, String> {
    crate::untrusted::check_yaml_nesting(yaml).map_err(|e| format!("bad frontmatter: {e}"))?;
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let top_level = !line.starts_with([' ', '\t']);
        match trimmed.split_once(':').filter(|_| top_level) {
            Some((key, rest)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
                let text = rest.trim();
                // Block scalar markers: the text is on the following lines.
                let text = if matches!(text, "|" | ">" | "|-" | ">-" | "|+" | ">+") { "" } else { text };
                fields.insert(key.to_string(), Field { text: text.to_string(), ..Field::default() });
                current = Some(key.to_string());
            }
            _ => {
                let Some(field) = current.as_ref().and_then(|k| fields.get_mut(k)) else { continue };
                match trimmed.strip_prefix("- ") {
                    Some(item) => field.items.push(item.trim().to_string()),
                    None if field.text.is_empty() => field.text = trimmed.to_string(),
                    None => {
                        field.text.push(' ');
                        field.text.push_str(trimmed);
                    }
                }
            }
        }
    }
    match serde_yaml::from_str::<Value>(yaml) {
        Ok(Value::Mapping(map)) => {
            for (key, value) in map {
                if let Value::String(key) = key {
                    fields.entry(key).or_default().yaml = Some(value);
                }
            }
        }
        Ok(Value::Null) => {}
        Ok(_) => warnings.push("the frontmatter is not a list of `key: value` lines; read line by line".into()),
        Err(err) => {
            let at = err.location().map(|l| format!(" (line {})", l.line() + 1)).unwrap_or_default();
            warnings.push(format!("the frontmatter is not valid YAML{at}; read line by line, as Claude Code does"));
        }
    }
    Ok(fields)
}

/// A number under `key` or its `alias`, within `range`.
fn number<T: TryFrom<i64>>(
    fields: &BTreeMap<String, Field>,
    [key, alias]: [&str; 2],
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<T>, String> {
    fields.get(key).or_else(|| fields.get(alias)).map_or(Ok(None), |field| field.number(key, range))
}

/// Parses `bytes`, the content of `path`; `namespace` comes from its folder.
/// Errors name the line (1-based, in the whole file) and what was wrong.
pub fn parse(path: &Path, namespace: Option<String>, bytes: &[u8]) -> Result<MarkdownCommand, String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or("the file name is not valid UTF-8")?;
    let name = match path.file_name().and_then(|n| n.to_str()) {
        Some(SKILL_FILE) => path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .ok_or("a skill's folder name is not valid UTF-8")?,
        _ => stem,
    }
    .to_string();
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let line = bytes[..err.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        format!("line {line}: the file is not valid UTF-8; save it as UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err("the file is empty; a command file holds the prompt to send (after optional frontmatter)".into());
    }
    let (frontmatter, body) = split_frontmatter(text)?;
    let mut warnings = Vec::new();
    let fields = match frontmatter {
        Some(yaml) => fields(yaml, &mut warnings)?,
        None => BTreeMap::new(),
    };
    let body = body.trim().to_string();
    if body.is_empty() {
        return Err("the command has no prompt after its frontmatter".into());
    }
    let text = |key: &str| fields.get(key).and_then(Field::text);
    let list = |key: &str| fields.get(key).map(Field::list).unwrap_or_default();
    if let Some(declared) = text("name").filter(|n| *n != name) {
        warnings.push(format!(
            "`name: {declared}` differs from the command's name `{name}` (from its file or folder), which is used"
        ));
    }
    for key in fields.keys() {
        let known = ["description", "argument-hint", "allowed-tools", "model", "agent", "priority", "tags"]
            .contains(&key.as_str())
            || ["timeout_s", "timeout-s", "max_retries", "max-retries"].contains(&key.as_str())
            || CLAUDE_CODE_KEYS.contains(&key.as_str());
        if !known {
            warnings.push(format!("unknown frontmatter key `{key}` ignored"));
        }
    }
    let timeout = bounds::TIMEOUT_S;
    Ok(MarkdownCommand {
        description: text("description").unwrap_or_else(|| first_line(&body)),
        argument_hint: text("argument-hint"),
        options: CommandOptions {
            allowed_tools: list("allowed-tools"),
            model: text("model"),
            agent: text("agent"),
            priority: number(&fields, ["priority", "priority"], i64::from(i32::MIN)..=i64::from(i32::MAX))?,
            tags: list("tags"),
            timeout_s: number(&fields, ["timeout_s", "timeout-s"], *timeout.start() as i64..=*timeout.end() as i64)?,
            max_retries: number(&fields, ["max_retries", "max-retries"], 0..=i64::from(bounds::MAX_RETRIES))?,
        },
        name,
        namespace,
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

/// The commands under `dir` and its subfolders, in a stable order: `.md`
/// files, and for a folder holding a `SKILL.md`, that file alone (the rest
/// is the skill's material). Hidden files and folders are skipped; symlinked
/// folders are not entered. Every entry that is not a folder is listed, so
/// that a FIFO or a device named `x.md` is reported rather than passed over.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    if dir.join(SKILL_FILE).symlink_metadata().is_ok() {
        found.push(dir.join(SKILL_FILE));
        return;
    }
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
        let err = parse_text("---\ndescription: x\nbody").unwrap_err();
        assert!(err.contains("never closed"), "{err}");
        let err = parse_text(" \n\n").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse(Path::new("x.md"), None, b"ok\nfine\n\xff\xfe").unwrap_err();
        assert!(err.starts_with("line 3:") && err.contains("UTF-8"), "{err}");
        let err = parse_text("---\ndescription: x\n---\n").unwrap_err();
        assert!(err.contains("no prompt"), "{err}");
        let deep = format!("---\ndescription: {}\n---\nbody", "[".repeat(100_000));
        let err = parse_text(&deep).unwrap_err();
        assert!(err.contains("nest more than 64"), "{err}");
    }

    #[test]
    fn frontmatter_that_is_not_yaml_is_read_line_by_line() {
        // Unquoted hints as Claude Code's docs and plugins write them: the
        // first is not YAML at all, the second is a YAML list.
        let command = parse_text(
            "---\ndescription: Fix issue #12: the parser\nargument-hint: [pr-number] [priority]\n\
             allowed-tools: Bash(gh pr view:*), Read\ntags: [a\n---\nFix $0",
        )
        .unwrap();
        assert_eq!(command.description, "Fix issue #12: the parser");
        assert_eq!(command.argument_hint.as_deref(), Some("[pr-number] [priority]"));
        assert_eq!(command.options.allowed_tools, ["Bash(gh pr view:*)", "Read"]);
        assert_eq!(command.options.tags, ["a"]);
        assert!(command.warnings[0].contains("not valid YAML (line"), "{:?}", command.warnings);
        let command = parse_text("---\ndescription: New app\nargument-hint: [project-name]\n---\nbody").unwrap();
        assert_eq!(command.argument_hint.as_deref(), Some("[project-name]"));
        assert!(command.warnings.is_empty(), "{:?}", command.warnings);
    }

    #[test]
    fn lists_in_every_form_and_folded_text() {
        let command = parse_text(
            "---\ndescription: >\n  Folded over\n  two lines\nallowed-tools:\n  - Read\n  - \"Bash(git log:*)\"\n---\nbody",
        )
        .unwrap();
        assert_eq!(command.description, "Folded over two lines\n");
        assert_eq!(command.options.allowed_tools, ["Read", "Bash(git log:*)"]);
        // The same, not YAML (a tab), read line by line.
        let command =
            parse_text("---\ndescription:\n  Over\n\tlines\nallowed-tools:\n- Read\n- Grep\n---\nbody").unwrap();
        assert_eq!((command.description.as_str(), command.options.allowed_tools.len()), ("Over lines", 2));
    }

    #[test]
    fn ringmaster_keys_are_strict() {
        let err = parse_text("---\npriority: high\n---\nbody").unwrap_err();
        assert!(err.contains("`priority` must be a whole number"), "{err}");
        let err = parse_text("---\ntimeout_s: 18446744073709551615\n---\nbody").unwrap_err();
        assert!(err.contains("`timeout_s`") && err.contains("86400"), "{err}");
    }

    #[test]
    fn a_skill_is_named_after_its_folder() {
        let text = "---\nname: pdf-tools\ndescription: Work with PDFs\nversion: 1.0.0\n---\nUse the PDF tools.";
        let skill = parse(Path::new("/skills/pdf/SKILL.md"), None, text.as_bytes()).unwrap();
        assert_eq!((skill.name.as_str(), skill.description.as_str()), ("pdf", "Work with PDFs"));
        assert_eq!(skill.warnings.len(), 1, "{:?}", skill.warnings);
        assert!(skill.warnings[0].contains("`name: pdf-tools` differs"));

        let dir = tempfile::tempdir().unwrap();
        let skill_dir = dir.path().join("skills/pdf");
        std::fs::create_dir_all(skill_dir.join("reference")).unwrap();
        std::fs::write(skill_dir.join(SKILL_FILE), text).unwrap();
        std::fs::write(skill_dir.join("forms.md"), "material").unwrap();
        std::fs::write(skill_dir.join("reference/api.md"), "material").unwrap();
        std::fs::write(dir.path().join("review.md"), "a command").unwrap();
        assert_eq!(discover(dir.path()), [dir.path().join("review.md"), skill_dir.join(SKILL_FILE)]);
    }

    #[test]
    fn crlf_files_parse() {
        let command = parse_text("---\r\ndescription: x\r\n---\r\nbody\r\n").unwrap();
        assert_eq!((command.description.as_str(), command.body.as_str()), ("x", "body"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Frontmatter-shaped text: keys Claude Code and ringmaster know, and
        /// values from the pieces real files (and broken ones) are made of.
        fn frontmatter() -> impl Strategy<Value = String> {
            let key = prop::sample::select(vec![
                "description",
                "argument-hint",
                "allowed-tools",
                "model",
                "tags",
                "priority",
                "timeout_s",
                "name",
                "x",
            ]);
            let piece = prop::sample::select(vec![
                "[",
                "]",
                "{",
                "}",
                ":",
                ", ",
                "'",
                "\"",
                "#",
                "- ",
                "|",
                ">",
                "&a",
                "*a",
                "!!str",
                "\t",
                "\n  ",
                "text",
                "42",
                "-1",
                "1e300",
                "18446744073709551616",
                "Bash(git diff:*)",
                "é漢",
            ]);
            let line = (key, prop::collection::vec(piece, 0..8)).prop_map(|(k, v)| format!("{k}: {}", v.concat()));
            prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
        }

        proptest! {
            #[test]
            fn any_bytes_give_a_command_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
                let _ = parse(Path::new("/c/x.md"), None, &bytes);
            }

            #[test]
            fn any_frontmatter_gives_a_command_or_an_error_naming_the_problem(yaml in frontmatter()) {
                let text = format!("---\n{yaml}\n---\nDo $ARGUMENTS");
                match parse(Path::new("/c/x.md"), None, text.as_bytes()) {
                    Ok(command) => {
                        prop_assert_eq!(command.name, "x");
                        prop_assert_eq!(command.body, "Do $ARGUMENTS");
                        prop_assert!(command.options.timeout_s.is_none_or(|t| bounds::TIMEOUT_S.contains(&t)));
                    }
                    Err(error) => prop_assert!(error.contains('`') || error.contains("frontmatter"), "{}", error),
                }
            }
        }
    }
}
