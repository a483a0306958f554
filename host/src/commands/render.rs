//! Turning a command's template and the user's argument string into a prompt.
//!
//! The rules are current Claude Code's (2.1.19 and later):
//!
//! * `$ARGUMENTS` is the whole argument string, as typed.
//! * `$ARGUMENTS[N]` and `$N` are the N-th argument, **0-based** (`$0` is the
//!   first), after splitting with shell-style quoting (`"two words"` is one).
//!   A `$N` past the last argument is left as it is; an `$ARGUMENTS[N]` past
//!   it becomes empty.
//! * A template using none of these gets `ARGUMENTS: <input>` appended when
//!   arguments were given.
//! * `@path` (at the start or after whitespace) is replaced by that file's
//!   content when the file exists inside the project directory; a path that
//!   leads outside it is an error. Other `@words` stay as they are.
//! * `` !`cmd` `` runs `cmd` through `sh -c` in the project directory and
//!   inlines its output, only when `commands.allow-shell` is on, with a
//!   timeout. Arguments never become part of the command's text, where some
//!   quoting context could always be escaped: they are passed as positional
//!   parameters (`$N` becomes `"${N+1}"`) and `$ARGUMENTS` as the variable
//!   `RINGMASTER_ARGUMENTS` (or `"$@"` where it stands unquoted, so it
//!   splits into the arguments), each reference quoted to fit the context it
//!   sits in. The shell expands a parameter's value without reading it as
//!   code, whatever it holds.
//!
//! `@path` and `` !`cmd` `` are only recognised in the command file itself,
//! never in the arguments, so arguments can neither read files nor run
//! commands.

use crate::executor::shell::{Run, Shell, ShellError};
use regex::{Captures, Regex};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// Largest file `@path` inlines.
const MAX_INCLUDE_BYTES: u64 = 256 * 1024;

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$ARGUMENTS\[(\d+)\]|\$ARGUMENTS|\$(\d+)").expect("valid regex"));
static DIRECTIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"!`([^`\n]+)`|(^|[\s(])@([^\s`'\x22<>]+)").expect("valid regex"));

/// How a template may reach outside itself.
#[derive(Debug, Clone)]
pub struct RenderOptions<'a> {
    /// Root for `@path`; files outside it are refused.
    pub project_dir: &'a Path,
    /// The shell and timeout for `` !`cmd` ``, when it may run.
    pub shell: Option<(&'a Shell, Duration)>,
}

/// Splits an argument string with shell-style quoting.
pub fn split_arguments(arguments: &str) -> Result<Vec<String>, String> {
    shlex::split(arguments).ok_or_else(|| format!("the arguments {arguments:?} have an unclosed quote"))
}

/// Renders `template` with `arguments`.
pub async fn render(template: &str, arguments: &str, options: &RenderOptions<'_>) -> Result<String, String> {
    let args = split_arguments(arguments)?;
    let uses_arguments = PLACEHOLDER.is_match(template);

    let mut out = String::with_capacity(template.len() + arguments.len());
    let mut last = 0;
    for caps in DIRECTIVE.captures_iter(template) {
        let whole = caps.get(0).expect("match");
        out.push_str(&substitute(&template[last..whole.start()], arguments, &args));
        last = whole.end();
        if let Some(command) = caps.get(1) {
            let command = shell_references(command.as_str());
            out.push_str(&run_shell(&command, arguments.trim(), &args, options).await?);
        } else {
            out.push_str(&caps[2]);
            out.push_str(&include(&caps[3], options.project_dir)?);
        }
    }
    out.push_str(&substitute(&template[last..], arguments, &args));
    if !uses_arguments && !arguments.trim().is_empty() {
        out.push_str("\n\nARGUMENTS: ");
        out.push_str(arguments.trim());
    }
    Ok(out)
}

/// Replaces the argument placeholders in `text`.
fn substitute(text: &str, raw: &str, args: &[String]) -> String {
    PLACEHOLDER
        .replace_all(text, |caps: &Captures| {
            if let Some(index) = caps.get(1) {
                let index: usize = index.as_str().parse().unwrap_or(usize::MAX);
                args.get(index).cloned().unwrap_or_default()
            } else if let Some(index) = caps.get(2) {
                let index: usize = index.as_str().parse().unwrap_or(usize::MAX);
                args.get(index).cloned().unwrap_or_else(|| caps[0].to_string())
            } else {
                raw.trim().to_string()
            }
        })
        .into_owned()
}

/// The environment variable holding `$ARGUMENTS` for a shell snippet.
const ARGUMENTS_VAR: &str = "RINGMASTER_ARGUMENTS";

/// Where a position in a shell command stands, as far as quoting goes.
#[derive(Clone, Copy, PartialEq)]
enum Quoting {
    None,
    Single,
    Double,
}

/// `command` with every placeholder replaced by a reference to the shell
/// parameter that holds its value, quoted for the context it sits in (see
/// the module doc). Only references are inserted, never values.
fn shell_references(command: &str) -> String {
    let mut out = String::with_capacity(command.len() + 16);
    let mut quoting = Quoting::None;
    let mut last = 0;
    for caps in PLACEHOLDER.captures_iter(command) {
        let whole = caps.get(0).expect("match");
        let before = &command[last..whole.start()];
        quoting = quoting_after(quoting, before);
        out.push_str(before);
        last = whole.end();
        let parameter = match caps.get(1).or_else(|| caps.get(2)) {
            Some(index) => match index.as_str().parse::<u64>() {
                Ok(n) => format!("${{{}}}", n + 1),
                Err(_) => String::new(),
            },
            None if quoting == Quoting::None => {
                // Unquoted, as the old quoting did: one word per argument.
                out.push_str("\"$@\"");
                continue;
            }
            None => format!("${{{ARGUMENTS_VAR}}}"),
        };
        match quoting {
            Quoting::None => out.push_str(&format!("\"{parameter}\"")),
            Quoting::Double => out.push_str(&parameter),
            // Close the single quotes, expand in double quotes, reopen.
            Quoting::Single => out.push_str(&format!("'\"{parameter}\"'")),
        }
    }
    out.push_str(&command[last..]);
    out
}

/// The quoting in force after `text`, starting in `quoting` (POSIX sh:
/// backslash escapes outside single quotes; no escapes inside them).
fn quoting_after(mut quoting: Quoting, text: &str) -> Quoting {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        quoting = match (quoting, c) {
            (Quoting::None | Quoting::Double, '\\') => {
                chars.next();
                quoting
            }
            (Quoting::None, '\'') => Quoting::Single,
            (Quoting::None, '"') => Quoting::Double,
            (Quoting::Single, '\'') | (Quoting::Double, '"') => Quoting::None,
            (quoting, _) => quoting,
        };
    }
    quoting
}

/// The content of `@path`, when `path` names a file in the project; the
/// token unchanged when it names nothing (it may be a mention, not a path).
fn include(token: &str, project_dir: &Path) -> Result<String, String> {
    // Sentence punctuation after a path is not part of it.
    let path = token.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
    let suffix = &token[path.len()..];
    let full = project_dir.join(path);
    let Ok(real) = full.canonicalize() else {
        return Ok(format!("@{token}"));
    };
    let root = project_dir.canonicalize().map_err(|err| format!("cannot resolve the project directory: {err}"))?;
    if !real.starts_with(&root) {
        return Err(format!(
            "@{path} points outside the project directory {}; a command may only include project files",
            root.display()
        ));
    }
    if !real.is_file() {
        return Ok(format!("@{token}"));
    }
    let size = real.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_INCLUDE_BYTES {
        return Err(format!("@{path} is {size} bytes; a command may include files up to {MAX_INCLUDE_BYTES} bytes"));
    }
    let content = std::fs::read(&real).map_err(|err| format!("cannot read @{path}: {err}"))?;
    let content = String::from_utf8_lossy(&content);
    Ok(format!("<file path=\"{path}\">\n{}\n</file>{suffix}", content.trim_end()))
}

/// Runs `` !`command` `` with the arguments as its positional parameters
/// and `raw` as `$RINGMASTER_ARGUMENTS`; its stdout (and stderr, as Claude
/// Code shows both).
async fn run_shell(command: &str, raw: &str, args: &[String], options: &RenderOptions<'_>) -> Result<String, String> {
    let Some((shell, timeout)) = options.shell else {
        return Err(format!(
            "the command runs a shell command (!`{command}`), which is off by default; \
             set commands.allow-shell: true in ringmaster.yaml to allow it"
        ));
    };
    let env = [(ARGUMENTS_VAR.to_string(), raw.to_string())];
    let run = Run { command, args, cwd: options.project_dir, env: &env, stdin: b"", timeout };
    let output = shell.run(run).await.map_err(|err| match err {
        ShellError::Timeout { .. } => format!("{err} (commands.shell-timeout-s)"),
        err => err.to_string(),
    })?;
    let mut text = output.stdout;
    text.push_str(&output.stderr);
    if output.code != Some(0) {
        return Err(format!("!`{command}` failed (exit code {:?}): {}", output.code, text.trim()));
    }
    Ok(text.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn go(template: &str, arguments: &str) -> Result<String, String> {
        let dir = std::env::temp_dir();
        render(template, arguments, &RenderOptions { project_dir: &dir, shell: None }).await
    }

    #[tokio::test]
    async fn whole_and_positional_arguments_are_zero_based() {
        assert_eq!(go("Fix $ARGUMENTS now", "issue 12").await.unwrap(), "Fix issue 12 now");
        assert_eq!(go("$ARGUMENTS[0] then $ARGUMENTS[1]", "a \"b c\"").await.unwrap(), "a then b c");
        assert_eq!(go("$0/$1", "x y").await.unwrap(), "x/y");
    }

    #[tokio::test]
    async fn missing_positions_and_appended_arguments() {
        assert_eq!(go("only $0 and $3", "one").await.unwrap(), "only one and $3");
        assert_eq!(go("q: $ARGUMENTS[2].", "one").await.unwrap(), "q: .");
        assert_eq!(go("Explain this.", "src/lib.rs").await.unwrap(), "Explain this.\n\nARGUMENTS: src/lib.rs");
        assert_eq!(go("Explain this.", "").await.unwrap(), "Explain this.");
        assert_eq!(go("Use $ARGUMENTS.", "").await.unwrap(), "Use .");
    }

    #[tokio::test]
    async fn unbalanced_quotes_are_an_error() {
        let err = go("$0", "\"open").await.unwrap_err();
        assert!(err.contains("unclosed quote"), "{err}");
    }

    #[tokio::test]
    async fn shell_is_off_unless_allowed_and_quotes_arguments() {
        let err = go("!`echo hi`", "").await.unwrap_err();
        assert!(err.contains("commands.allow-shell"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::new(32, &[]);
        let options = RenderOptions { project_dir: dir.path(), shell: Some((&shell, Duration::from_secs(10))) };
        let out = render("out: !`printf '%s|' $ARGUMENTS`", "a 'b; rm -rf x'", &options).await.unwrap();
        assert_eq!(out, "out: a|b; rm -rf x|");
        let err = render("!`exit 3`", "", &options).await.unwrap_err();
        assert!(err.contains("failed"), "{err}");
        let options = RenderOptions { shell: Some((&shell, Duration::from_millis(200))), ..options };
        let err = render("!`sleep 30`", "", &options).await.unwrap_err();
        assert!(err.contains("did not finish") && err.contains("shell-timeout-s"), "{err}");
    }

    /// Arguments an attacker would type, against every quoting context a
    /// template can put a placeholder in: nothing runs, and the output is
    /// the argument as typed.
    #[tokio::test]
    async fn hostile_arguments_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::new(32, &[]);
        let options = RenderOptions { project_dir: dir.path(), shell: Some((&shell, Duration::from_secs(10))) };
        let hostile = [
            "$(touch${IFS}pwned)",
            "`touch pwned`",
            "x'; touch pwned; echo '",
            "\"; touch pwned; echo \"",
            "\\\"; touch pwned #",
            "$((6*7)) ${HOME} $0 $@",
            "a\ntouch pwned",
            "'$(touch pwned)'",
            "*",
            "-n",
        ];
        let templates = [
            ("!`printf '%s' \"$ARGUMENTS\"`", true),
            ("!`printf '%s' '$ARGUMENTS'`", true),
            ("!`printf '%s' \"[$0]\"`", false),
            ("!`printf '%s' '[$0]'`", false),
            ("!`printf '%s' [$ARGUMENTS[0]]`", false),
            ("!`git log --grep \"$ARGUMENTS\" 2>/dev/null; printf '%s' \"$ARGUMENTS\"`", true),
        ];
        for argument in hostile {
            // One argument holding the whole hostile text.
            let typed = format!("'{}'", argument.replace('\'', "'\\''"));
            for (template, whole) in templates {
                let out = render(template, &typed, &options).await.unwrap();
                assert!(!dir.path().join("pwned").exists(), "{template} with {argument:?} ran a command");
                let expected = if whole { typed.clone() } else { format!("[{argument}]") };
                assert_eq!(out, expected.trim_end(), "{template} with {argument:?}");
            }
        }
    }

    #[tokio::test]
    async fn includes_are_confined_to_the_project() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("project");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        std::fs::write(root.path().join("secret.txt"), "s3cret").unwrap();
        let options = RenderOptions { project_dir: &project, shell: None };
        let out = render("See @src/lib.rs.", "", &options).await.unwrap();
        assert_eq!(out, "See <file path=\"src/lib.rs\">\npub fn f() {}\n</file>.");
        let err = render("Read @../secret.txt", "", &options).await.unwrap_err();
        assert!(err.contains("outside the project"), "{err}");
        std::os::unix::fs::symlink(root.path().join("secret.txt"), project.join("link")).unwrap();
        let err = render("Read @link", "", &options).await.unwrap_err();
        assert!(err.contains("outside the project"), "{err}");
        // Mentions and e-mail addresses are not paths.
        let out = render("ask @alice or bob@example.com", "", &options).await.unwrap();
        assert_eq!(out, "ask @alice or bob@example.com");
        // Arguments never include files.
        let out = render("Look at $ARGUMENTS", "@src/lib.rs", &options).await.unwrap();
        assert_eq!(out, "Look at @src/lib.rs");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            /// Whatever the arguments, and wherever the template puts them, a
            /// snippet runs only what the template says.
            #[test]
            fn arguments_never_run(
                argument in "[ -~]{0,40}",
                context in prop::sample::select(vec!["$0", "'$0'", "\"$0\"", "$ARGUMENTS", "'$ARGUMENTS'", "\"x$ARGUMENTS[0]y\""]),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let shell = Shell::new(32, &[]);
                let options = RenderOptions { project_dir: dir.path(), shell: Some((&shell, Duration::from_secs(10))) };
                let hostile = format!("{argument};touch pwned$(touch pwned)`touch pwned`'\"");
                let typed = shlex::try_quote(&hostile).unwrap().into_owned();
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let template = format!("!`printf '%s' {context} >/dev/null`");
                let rendered = runtime.block_on(render(&template, &typed, &options));
                prop_assert!(rendered.is_ok(), "{:?}", rendered);
                prop_assert!(!dir.path().join("pwned").exists(), "{} with {:?} ran a command", template, hostile);
            }
        }
    }
}
