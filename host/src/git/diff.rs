//! A diff read a page at a time: only what the page needs is read, and git
//! is stopped after it, so a diff of gigabytes costs a page of memory.

use super::{Git, GitError, Output, TIMEOUT, failed, read_capped};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// One page of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffPage {
    pub text: String,
    /// Where the next page starts, when there is more.
    pub next_offset: Option<u64>,
}

impl Git {
    /// The unified diff from `from` to `to` (the working tree when `None`)
    /// in `dir`, limited to `path`, with `context` lines: `max_bytes` of it
    /// from byte `offset` on, ending at a line's end where one is in the
    /// page. Only what the page needs is read; git is stopped after it.
    pub async fn diff(
        &self,
        dir: &Path,
        (from, to): (&str, Option<&str>),
        path: Option<&str>,
        context: u32,
        (offset, max_bytes): (u64, usize),
    ) -> Result<DiffPage, GitError> {
        let unified = format!("--unified={context}");
        let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-renames", unified.as_str(), from];
        args.extend(to);
        args.push("--");
        args.extend(path);
        let (mut child, _group) = self.spawn(dir, &args, &[], false)?;
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let read = async {
            // One byte past the page says whether there is more.
            let mut wanted = Vec::new();
            let mut seen = 0u64;
            let mut chunk = vec![0u8; 64 * 1024];
            while wanted.len() <= max_bytes {
                let n = out.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let start = offset.saturating_sub(seen).min(n as u64) as usize;
                seen += n as u64;
                wanted.extend_from_slice(&chunk[start..n]);
            }
            wanted
        };
        let mut wanted =
            tokio::time::timeout(TIMEOUT, read).await.map_err(|_| GitError::Timeout { args: args.join(" ") })?;
        let more = wanted.len() > max_bytes;
        if !more {
            let stderr = read_capped(&mut err, 64 * 1024).await.unwrap_or_default();
            let status = child.wait().await.map_err(|e| GitError::Spawn(e.to_string()))?;
            if !status.success() {
                let output = Output {
                    code: status.code(),
                    stdout: Vec::new(),
                    stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
                };
                return Err(failed(&args, &output));
            }
            return Ok(DiffPage { text: String::from_utf8_lossy(&wanted).into_owned(), next_offset: None });
        }
        wanted.truncate(max_bytes);
        if let Some(end) = wanted.iter().rposition(|b| *b == b'\n') {
            wanted.truncate(end + 1);
        }
        let next = offset + wanted.len() as u64;
        Ok(DiffPage { text: String::from_utf8_lossy(&wanted).into_owned(), next_offset: Some(next) })
    }
}
