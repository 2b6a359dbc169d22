//! Fingerprints the sources that decide what goes into the index (parser, citations, passages,
//! schema), so an index built by a program whose parsing differs is rebuilt even when nobody
//! remembered to bump a version number.
//!
//! Each entry is a file or a folder (every `.rs` file below it, in sorted order). A path that
//! does not exist stops the build: a file moved without updating this list would otherwise
//! drop out of the fingerprint, and stale indexes would silently stop being rebuilt.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

const INDEX_SOURCES: &[&str] = &[
    "src/article.rs",
    "src/citation.rs",
    "src/passage.rs",
    "src/corpus.rs",
    "src/index",
    "src/wikipedia",
];

fn main() {
    // FNV-1a: stable across toolchains, unlike std's DefaultHasher.
    let mut hasher = Fnv(0xcbf29ce484222325);
    for entry in INDEX_SOURCES {
        let path = Path::new(entry);
        println!("cargo:rerun-if-changed={entry}");
        let mut files = Vec::new();
        collect(path, &mut files);
        for file in files {
            let bytes = std::fs::read(&file).unwrap_or_else(|error| {
                panic!(
                    "build.rs: cannot read {} for the index fingerprint: {error}",
                    file.display()
                )
            });
            let name = file.to_string_lossy().replace('\\', "/");
            hasher.write(name.as_bytes());
            hasher.write(&bytes);
        }
    }
    println!(
        "cargo:rustc-env=CITEBOT_INDEX_SOURCES_HASH={:016x}",
        hasher.finish()
    );
}

/// `path` if it is a file, else the `.rs` files below it; a missing path is a build error.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    let metadata = std::fs::metadata(path).unwrap_or_else(|error| {
        panic!(
            "build.rs: INDEX_SOURCES names {} but it cannot be read ({error}); update the list \
             in crates/core/build.rs to where the parsing and index code now lives",
            path.display()
        )
    });
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|error| panic!("build.rs: cannot list {}: {error}", path.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("build.rs: cannot list {}: {error}", path.display()))
                .path()
        })
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() || entry.extension().is_some_and(|extension| extension == "rs") {
            collect(&entry, files);
        }
    }
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}
