//! Hot reload: watches the plugin directories and brings each changed plugin
//! in line with the disk.
//!
//! Events are debounced per plugin name: a reload starts once no event for
//! that name has arrived for `reload-debounce-ms`, so a file written in many
//! chunks is read once, after the last chunk. A file still being written when
//! it is read fails to parse and is never loaded ([`PluginHost::load`] stays
//! quiet about it when the file changed during the attempt); its next write
//! event triggers another attempt. Writing to a temporary name and renaming
//! over `NAME.wasm` avoids even that.

use super::registry::PluginHost;
use crate::watch::{DirWatcher, Watched, watch_dirs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The plugin a changed file belongs to: `NAME.wasm` or its manifest `NAME.yaml`.
fn plugin_of(path: &Path) -> Option<String> {
    if crate::watch::is_hidden_or_backup(path) {
        return None;
    }
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".wasm").or_else(|| name.strip_suffix(".yaml"))?;
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Starts watching `host`'s plugin directories, creating any that are
/// missing; each changed plugin is reloaded on its own, debounced per name.
pub fn watch(host: Arc<PluginHost>) -> notify::Result<DirWatcher> {
    let dirs = host.config().dirs.clone();
    let debounce = Duration::from_millis(host.config().reload_debounce_ms);
    let watched = Watched { thread: "plugin-watch", dirs: &dirs, recursive: false, create_missing: true, debounce };
    watch_dirs(watched, plugin_of, move |name: String| {
        // Errors are recorded and published by the host.
        let _ = host.refresh(&name);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_files_and_manifests_map_to_their_plugin() {
        assert_eq!(plugin_of(Path::new("/p/fair-share.wasm")).as_deref(), Some("fair-share"));
        assert_eq!(plugin_of(Path::new("/p/fair-share.yaml")).as_deref(), Some("fair-share"));
        assert_eq!(plugin_of(Path::new("/p/.fair-share.wasm.tmp")), None);
        assert_eq!(plugin_of(Path::new("/p/.hidden.wasm")), None);
        assert_eq!(plugin_of(Path::new("/p/notes.txt")), None);
    }
}
