//! The index folder's generations: the one `CURRENT` names, and removing the leftovers of a
//! killed rebuild and the generations no longer live.

use std::fs::File;
use std::path::{Path, PathBuf};

pub(super) const CURRENT: &str = "CURRENT";

/// The generation folder `CURRENT` names, if any.
pub fn current_generation(index_dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(index_dir.join(CURRENT)).ok()?;
    let name = name.trim();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    Some(index_dir.join(name))
}

/// Removes `.tmp-*` folders left by a killed rebuild. Runs under the build lock.
pub(super) fn remove_leftovers(index_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(index_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp-") {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Removes generations other than the live one. A process still reading an old one keeps its
/// open files (Unix keeps unlinked files alive), and reopens `CURRENT` on its next reload.
pub(super) fn remove_old_generations(index_dir: &Path, live: &str) {
    let Ok(entries) = std::fs::read_dir(index_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("gen-") && name != live {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}
