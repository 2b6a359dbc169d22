//! What a generation was built from (`manifest.json`) and the staleness check that compares it
//! with the corpus and this program.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::generations::current_generation;
use super::INDEX_FORMAT;
use crate::config::Config;
use crate::corpus;

pub(super) const MANIFEST: &str = "manifest.json";
/// Each corpus file's metadata and content hash when the generation was built (see
/// [`corpus::fingerprint_with`]): lets the staleness check skip reading unchanged files.
pub(super) const FILE_TABLE: &str = "corpus-files.bin";

/// What an index was built from; a mismatch with the present means it is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub program_version: String,
    /// Hash of the sources that decide the index's content (see build.rs).
    pub sources_hash: String,
    pub corpus_fingerprint: String,
    pub max_passage_bytes: usize,
    pub articles: usize,
    pub passages: usize,
    pub references: usize,
    pub warnings: Vec<String>,
    pub build_millis: u64,
    /// The fingerprint of the sentence-embedding model whose passage embeddings the generation
    /// holds (`embeddings.bin`); `None`: words only.
    #[serde(default)]
    pub meaning: Option<String>,
}

impl Manifest {
    fn matches(&self, config: &Config, fingerprint: &str) -> bool {
        self.format == INDEX_FORMAT
            && self.program_version == env!("CARGO_PKG_VERSION")
            && self.sources_hash == env!("CITEBOT_INDEX_SOURCES_HASH")
            && self.max_passage_bytes == config.passages.max_passage_bytes
            && self.corpus_fingerprint == fingerprint
            && self.meaning == crate::meaning::expected_fingerprint(&config.meaning)
    }
}

/// Why the index cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    Stale(StaleReason),
    Corrupt(String),
    /// The corpus, not the index, is the problem (a file cannot be read): rebuilding would
    /// fail the same way, so the caller reports the corpus's own error.
    CorpusUnreadable(String),
}

/// What changed since the index was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// Another index format, program version or parsing source.
    OtherVersion,
    /// The corpus, the passage settings or the meaning model.
    InputsChanged,
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StaleReason::OtherVersion => "built by another version of citebot",
            StaleReason::InputsChanged => {
                "the corpus, the passage settings or the meaning model changed"
            }
        })
    }
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staleness::Missing => write!(f, "no index yet"),
            Staleness::Stale(why) => write!(f, "index is stale: {why}"),
            Staleness::Corrupt(why) => write!(f, "index is unreadable: {why}"),
            Staleness::CorpusUnreadable(why) => {
                write!(f, "index is unreadable: corpus cannot be read: {why}")
            }
        }
    }
}

/// Whether the live index matches the corpus and this program. `Ok(())` means usable.
pub fn check(config: &Config) -> Result<(), Staleness> {
    check_reporting(config).map(|_| ())
}

/// What an up-to-date [`check`] did.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Corpus files.
    pub files: usize,
    /// Files read and hashed because their metadata could not vouch for them (changed since
    /// the build, or modified just before it read them); the others were not read.
    pub rehashed: usize,
}

/// [`check`], also saying how much of the corpus it had to read.
pub fn check_reporting(config: &Config) -> Result<CheckReport, Staleness> {
    let generation = current_generation(&config.index_dir);
    let known = generation
        .as_deref()
        .and_then(|generation| std::fs::read(generation.join(FILE_TABLE)).ok())
        .and_then(|bytes| corpus::decode_digests(&bytes))
        .unwrap_or_default();
    let fingerprint = corpus::fingerprint_with(&config.corpus_dir, &known)
        .map_err(|e| Staleness::CorpusUnreadable(e.to_string()))?;
    let Some(generation) = generation else {
        return Err(Staleness::Missing);
    };
    let manifest = read_manifest(&generation)?;
    if manifest.format != INDEX_FORMAT
        || manifest.program_version != env!("CARGO_PKG_VERSION")
        || manifest.sources_hash != env!("CITEBOT_INDEX_SOURCES_HASH")
    {
        return Err(Staleness::Stale(StaleReason::OtherVersion));
    }
    if !manifest.matches(config, &fingerprint.value) {
        return Err(Staleness::Stale(StaleReason::InputsChanged));
    }
    Ok(CheckReport {
        files: fingerprint.files,
        rehashed: fingerprint.rehashed,
    })
}

pub(super) fn read_manifest(generation: &Path) -> Result<Manifest, Staleness> {
    let text = std::fs::read_to_string(generation.join(MANIFEST)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Staleness::Corrupt(format!("{} has no manifest", generation.display()))
        } else {
            Staleness::Corrupt(format!("{}: {e}", generation.join(MANIFEST).display()))
        }
    })?;
    serde_json::from_str(&text).map_err(|e| Staleness::Corrupt(format!("manifest: {e}")))
}
