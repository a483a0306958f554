//! Reading what users and their tools put on disk: command files, skills,
//! hook configs, plugins and their manifests, `ringmaster.yaml`, token files.
//!
//! A file in a watched folder can be anything: a symlink to `/etc/passwd` or
//! `/dev/zero`, a FIFO nobody writes to, a gigabyte of text, YAML nested a
//! hundred thousand deep. None of these may hang, exhaust or leak anything:
//! [`read`] reads only regular files, follows a symlink only when it resolves
//! inside the directories ringmaster was given, opens without blocking and
//! stops at a size cap before holding more than that in memory; and
//! [`check_yaml_nesting`] refuses the flow nesting that makes YAML parsing
//! quadratic, before the parser sees it.

use nix::fcntl::OFlag;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most a text file (command, skill, hook config, manifest,
/// configuration) may hold.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;
/// The most a plugin component may hold (interpreters compiled in, as for
/// Python guests, make them tens of megabytes).
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// How deep YAML's flow collections (`[...]`, `{...}`) may nest; real files
/// need a handful, and the parser's own recursion limit is 128.
pub const MAX_YAML_NESTING: usize = 64;

/// One line of a peer's stream, read by [`Lines`].
#[derive(Debug, PartialEq)]
pub enum Line {
    /// A line (without its newline), lossily decoded as UTF-8.
    Text(String),
    /// A line longer than the cap; its `bytes` were read and dropped.
    TooLong { bytes: usize },
}

/// Lines from a stream a peer writes (an agent's stdout, a socket), each
/// held to `max` bytes: a longer one is read to its end and dropped, never
/// held, so memory stays bounded whatever the peer sends. Cancel-safe: a
/// partly read line is kept across calls, so it can sit in a `select!`.
pub struct Lines<R> {
    reader: R,
    max: usize,
    line: Vec<u8>,
    /// Bytes of the current line dropped past the cap.
    dropped: usize,
}

impl<R: tokio::io::AsyncBufRead + Unpin> Lines<R> {
    pub fn new(reader: R, max: usize) -> Lines<R> {
        Lines { reader, max, line: Vec::new(), dropped: 0 }
    }

    /// The next line; `None` at the end of the stream (a last line without a
    /// newline still counts).
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        use tokio::io::AsyncBufReadExt;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok((!self.line.is_empty() || self.dropped > 0).then(|| self.take()));
            }
            let (chunk, ends) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            if self.dropped == 0 && self.line.len() + chunk.len() <= self.max {
                self.line.extend_from_slice(chunk);
            } else {
                self.dropped += self.line.len() + chunk.len();
                self.line = Vec::new();
            }
            let consumed = chunk.len() + usize::from(ends);
            self.reader.consume(consumed);
            if ends {
                return Ok(Some(self.take()));
            }
        }
    }

    fn take(&mut self) -> Line {
        let line = std::mem::take(&mut self.line);
        match std::mem::take(&mut self.dropped) {
            0 => {
                let text =
                    String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                Line::Text(text.strip_suffix('\r').map(str::to_string).unwrap_or(text))
            }
            bytes => Line::TooLong { bytes },
        }
    }

    /// The reader, for what follows the lines (an MCP session on a socket).
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.reader, self.line)
    }
}

/// Reads `path`, refusing anything but a regular file of at most `max`
/// bytes. With `roots`, a symlink is followed only when its target lies
/// inside one of them; without, anywhere (a file the user named).
pub fn read(path: &Path, roots: Option<&[PathBuf]>, max: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|err| format!("cannot read the file: {err}"))?;
    let target = if meta.file_type().is_symlink() {
        let real = path.canonicalize().map_err(|err| format!("the symlink leads nowhere usable: {err}"))?;
        if let Some(roots) = roots {
            let inside = roots.iter().filter_map(|root| root.canonicalize().ok()).any(|root| real.starts_with(root));
            if !inside {
                return Err(format!(
                    "the symlink points to {}, outside the directories ringmaster reads it from; \
                     only links within them are followed",
                    real.display()
                ));
            }
        }
        real
    } else {
        path.to_path_buf()
    };
    // Non-blocking, so opening a FIFO returns at once (and it is refused
    // below); no following, so a link swapped in since the check is refused.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY).bits())
        .open(&target)
        .map_err(|err| format!("cannot read the file: {err}"))?;
    let meta = file.metadata().map_err(|err| format!("cannot read the file: {err}"))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file, so it is not read", kind(&meta.file_type())));
    }
    if meta.len() > max {
        return Err(too_big(meta.len(), max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(|err| format!("cannot read the file: {err}"))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, roots: Option<&[PathBuf]>, max: u64) -> Result<String, String> {
    String::from_utf8(read(path, roots, max)?).map_err(|_| "the file is not valid UTF-8; save it as UTF-8".into())
}

fn too_big(len: u64, max: u64) -> String {
    format!("the file is {len} bytes, more than the {max} ringmaster reads")
}

fn kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match () {
        _ if kind.is_dir() => "a directory",
        _ if kind.is_fifo() => "a FIFO",
        _ if kind.is_socket() => "a socket",
        _ if kind.is_char_device() => "a character device",
        _ if kind.is_block_device() => "a block device",
        _ => "this kind of file",
    }
}

/// Refuses YAML whose flow collections nest deeper than [`MAX_YAML_NESTING`]
/// (libyaml's time grows with the square of that depth: 50,000 levels take
/// seconds). Brackets inside quoted scalars and comments do not count.
pub fn check_yaml_nesting(text: &str) -> Result<(), String> {
    #[derive(PartialEq)]
    enum In {
        Plain,
        Single,
        Double,
        Comment,
    }
    let (mut state, mut depth, mut previous) = (In::Plain, 0usize, '\n');
    // The last character on this line that was not a space, '\n' for none:
    // a quote opens a quoted scalar only where a scalar can start.
    let mut significant = '\n';
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        let starts_scalar = matches!(significant, '\n' | ':' | '-' | '[' | '{' | ',' | '?');
        state = match (state, c) {
            (In::Comment, '\n') => In::Plain,
            (In::Comment, _) => In::Comment,
            (In::Plain, '#') if previous.is_whitespace() => In::Comment,
            (In::Plain, '\'') if starts_scalar => In::Single,
            (In::Plain, '"') if starts_scalar => In::Double,
            (In::Plain, '[' | '{') => {
                depth += 1;
                if depth > MAX_YAML_NESTING {
                    return Err(format!(
                        "line {line}: `[` and `{{` nest more than {MAX_YAML_NESTING} deep; flatten the value"
                    ));
                }
                In::Plain
            }
            (In::Plain, ']' | '}') => {
                depth = depth.saturating_sub(1);
                In::Plain
            }
            (In::Plain, _) => In::Plain,
            // `''` inside single quotes is an escaped quote: stay inside.
            (In::Single, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                In::Single
            }
            (In::Single, '\'') => In::Plain,
            (In::Single, _) => In::Single,
            (In::Double, '\\') => {
                if chars.next() == Some('\n') {
                    line += 1;
                }
                In::Double
            }
            (In::Double, '"') => In::Plain,
            (In::Double, _) => In::Double,
        };
        if c == '\n' {
            line += 1;
            significant = '\n';
        } else if !c.is_whitespace() {
            significant = c;
        }
        previous = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_regular_files_within_the_roots_and_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("commands");
        std::fs::create_dir(&root).unwrap();
        let roots = [root.clone()];
        std::fs::write(root.join("ok.md"), "hello").unwrap();
        assert_eq!(read(&root.join("ok.md"), Some(&roots), 100).unwrap(), b"hello");

        symlink(root.join("ok.md"), root.join("inside.md")).unwrap();
        assert_eq!(read(&root.join("inside.md"), Some(&roots), 100).unwrap(), b"hello");
        std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
        symlink(dir.path().join("secret"), root.join("outside.md")).unwrap();
        let err = read(&root.join("outside.md"), Some(&roots), 100).unwrap_err();
        assert!(err.contains("outside the directories"), "{err}");
        assert_eq!(read(&root.join("outside.md"), None, 100).unwrap(), b"s3cret", "a file the user named");

        symlink("/dev/zero", root.join("zero.md")).unwrap();
        let err = read(&root.join("zero.md"), None, 100).unwrap_err();
        assert!(err.contains("character device"), "{err}");
        nix::unistd::mkfifo(&root.join("fifo.md"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(&root.join("fifo.md"), Some(&roots), 100).unwrap_err();
        assert!(err.contains("a FIFO"), "{err}");
        let err = read(&root, Some(&roots), 100).unwrap_err();
        assert!(err.contains("a directory"), "{err}");

        std::fs::write(root.join("big.md"), vec![b'x'; 101]).unwrap();
        let err = read(&root.join("big.md"), Some(&roots), 100).unwrap_err();
        assert!(err.contains("101 bytes, more than the 100"), "{err}");
        symlink(root.join("nowhere"), root.join("dangling.md")).unwrap();
        assert!(read(&root.join("dangling.md"), Some(&roots), 100).unwrap_err().contains("leads nowhere"));
    }

    #[tokio::test]
    async fn lines_past_the_cap_are_dropped_not_held() {
        let input = format!("short\n{}\nnext\r\nlast", "x".repeat(10_000));
        let mut lines = Lines::new(tokio::io::BufReader::with_capacity(64, input.as_bytes()), 100);
        assert_eq!(lines.next_line().await.unwrap(), Some(Line::Text("short".into())));
        assert_eq!(lines.next_line().await.unwrap(), Some(Line::TooLong { bytes: 10_000 }));
        assert!(lines.line.capacity() <= 164, "held {} bytes", lines.line.capacity());
        assert_eq!(lines.next_line().await.unwrap(), Some(Line::Text("next".into())));
        assert_eq!(lines.next_line().await.unwrap(), Some(Line::Text("last".into())));
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = check_yaml_nesting(&deep).unwrap_err();
        assert!(err.starts_with("line 1:") && err.contains("64"), "{err}");
        let deep_map = format!("x: 1\na: {}", "{b: ".repeat(65));
        assert!(check_yaml_nesting(&deep_map).unwrap_err().starts_with("line 2:"));
        // Brackets in quotes and comments are text.
        let quoted =
            format!("a: '{}'\nb: \"{}\" # {}\nc: 'it''s [' ", "[".repeat(100), "{".repeat(100), "[".repeat(100));
        check_yaml_nesting(&quoted).unwrap();
        check_yaml_nesting("argument-hint: [pr-number] [priority]\ntags: [a, [b, {c: d}]]").unwrap();
        // An apostrophe inside a plain scalar opens no quote.
        let sneaky = format!("description: don't {}", "[".repeat(65));
        assert!(check_yaml_nesting(&sneaky).is_err());
    }
}
