//! Fingerprints the source files that decide what goes into the index (parser, citations,
//! passages, schema), so an index built by a program whose parsing differs is rebuilt even
//! when nobody remembered to bump a version number.

use std::hash::Hasher;

const INDEX_SOURCES: &[&str] = &[
    "src/article.rs",
    "src/citation.rs",
    "src/passage.rs",
    "src/corpus.rs",
    "src/index.rs",
    "src/wikipedia/parsoid.rs",
    "src/wikipedia/stored.rs",
];

fn main() {
    // FNV-1a: stable across toolchains, unlike std's DefaultHasher.
    let mut hasher = Fnv(0xcbf29ce484222325);
    for path in INDEX_SOURCES {
        println!("cargo:rerun-if-changed={path}");
        let bytes = std::fs::read(path).unwrap_or_default();
        hasher.write(path.as_bytes());
        hasher.write(&bytes);
    }
    println!(
        "cargo:rustc-env=CITEBOT_INDEX_SOURCES_HASH={:016x}",
        hasher.finish()
    );
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
