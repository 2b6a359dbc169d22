//! The tantivy index: its schema, an atomic rebuild, and the check that it still matches the
//! corpus.
//!
//! Layout of the index folder:
//! - `CURRENT`: the name of the live generation (replaced by an atomic rename);
//! - `gen-*/`: one complete tantivy index each, with its `manifest.json` and `corpus-files.bin`
//!   (each corpus file's metadata and content hash, for a staleness check that reads only the
//!   files that changed);
//! - `.build.lock`: held while a rebuild runs (an OS lock: a killed rebuild leaves none behind);
//! - `.tmp-*/`: a rebuild in progress, or the remains of a killed one (removed by the next).
//!
//! A reader opens the generation `CURRENT` names; a rebuild writes a new generation beside it
//! and renames `CURRENT` only once the new one is complete, so a reader never sees half an index.
//!
//! A rebuild streams: worker threads read and parse articles while tantivy's threads index
//! them, in file order, so memory does not grow with the corpus. A reader decodes an article's
//! record (citations, sections) only when asked for it.
//!
//! The concerns, one file each: `analyzer.rs` (the search analyzer), `schema.rs` (fields and
//! documents), `codec.rs` (the stored passage's binary form), `manifest.rs` (what a generation
//! was built from, and staleness), `rebuild.rs` (the threaded build), `generations.rs` (the
//! folder's generations), `open.rs` (the live generation) and `directory.rs` (its tantivy
//! `Directory`).

mod analyzer;
mod codec;
mod directory;
mod generations;
mod manifest;
mod open;
mod rebuild;
mod schema;

pub(crate) use analyzer::stems;
pub use analyzer::{analyzer, TOKENIZER};
pub use generations::current_generation;
pub use manifest::{check, check_reporting, CheckReport, Manifest, StaleReason, Staleness};
pub use open::{open, OpenIndex};
pub use rebuild::{rebuild, BuildReport, RebuildOptions};
pub use schema::{ordinal_of, searchable_text, stored_passage, ArticleRecord, Fields};

/// Bump when the schema, the tokenizer or the parser's output changes: an index built with
/// another format is rebuilt. 3: analysed fields without positions, `ordinal` a fast field only.
/// 4: the passages' token vectors beside their embeddings (`tokens.bin`). 5: `tokens.bin` mapped,
/// with its rarities and an offset table.
pub const INDEX_FORMAT: u32 = 5;
