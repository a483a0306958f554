//! Plugin authoring from the binary alone. The contract's WIT and the Rust
//! SDK travel inside `ringmaster` ([`embedded`]), so `ringmaster plugin wit`
//! and `ringmaster plugin new` ([`new`]) need no checkout of this
//! repository, and a new project is pinned to exactly the contract version
//! the binary that made it speaks.

pub mod dev;
pub mod embedded;
pub mod new;

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Writes `files` (paths relative to `dir`), all or none: a file that
/// exists with other content is a conflict unless `force`, and conflicts
/// are reported before anything is written. Each file goes through a
/// temporary file and a rename, so a watcher never reads half of one.
/// Returns the files whose content changed.
pub fn write_all(dir: &Path, files: &[(PathBuf, impl AsRef<[u8]>)], force: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut conflicts = Vec::new();
    for (path, content) in files {
        let path = dir.join(path);
        match std::fs::read(&path) {
            Ok(existing) if existing == content.as_ref() => {}
            Ok(_) if !force => conflicts.push(path.display().to_string()),
            Ok(_) => changed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => changed.push(path),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    if !conflicts.is_empty() {
        anyhow::bail!(
            "{} exist with other content (nothing was written; --force overwrites them)",
            conflicts.join(", ")
        );
    }
    for (path, content) in files {
        let path = dir.join(path);
        if !changed.contains(&path) {
            continue;
        }
        let parent = path.parent().context("a file to write has no directory")?;
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = parent.join(format!(".{}.tmp", path.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot move {} into place", path.display()))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "mine").unwrap();
        let files = vec![("a".into(), "new".to_string()), ("b".into(), "theirs".to_string())];
        let err = write_all(dir.path(), &files, false).unwrap_err().to_string();
        assert!(err.contains("/b exist with other content"), "{err}");
        assert!(!dir.path().join("a").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "mine");

        let changed = write_all(dir.path(), &files, true).unwrap();
        assert_eq!(changed.len(), 2);
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "theirs");
        // Unchanged content is no conflict and no change.
        assert!(write_all(dir.path(), &files, false).unwrap().is_empty());
    }
}
