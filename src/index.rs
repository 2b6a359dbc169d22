//! The tantivy index: its schema, an atomic rebuild, and the check that it still matches the
//! corpus.
//!
//! Layout of the index folder:
//! - `CURRENT`: the name of the live generation (replaced by an atomic rename);
//! - `gen-*/`: one complete tantivy index each, with its `manifest.json`;
//! - `.build.lock`: held while a rebuild runs (an OS lock: a killed rebuild leaves none behind);
//! - `.tmp-*/`: a rebuild in progress, or the remains of a killed one (removed by the next).
//!
//! A reader opens the generation `CURRENT` names; a rebuild writes a new generation beside it
//! and renames `CURRENT` only once the new one is complete, so a reader never sees half an index.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer,
};
use tantivy::{doc, Index, IndexWriter, TantivyDocument};

use crate::article::Article;
use crate::citation::Citation;
use crate::config::Config;
use crate::corpus::{self, ArticleInfo};
use crate::error::{Error, Result};
use crate::passage::{Passage, PassageKind};

/// Bump when the schema, the tokenizer or the parser's output changes: an index built with
/// another format is rebuilt.
pub const INDEX_FORMAT: u32 = 1;

/// The analyzer every text field and every question goes through: words, lowercased, accents
/// folded ("Kérob" → "kerob"), English stems ("nodules" → "nodul").
pub const TOKENIZER: &str = "citebot_en";

const CURRENT: &str = "CURRENT";
const MANIFEST: &str = "manifest.json";
const LOCK: &str = ".build.lock";
/// Up to this many passages, opening an index verifies every file's checksum (about 1 ms per
/// 10,000 passages here).
const CHECKSUM_PASSAGE_LIMIT: usize = 50_000;

/// Builds the analyzer registered as [`TOKENIZER`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Passage id (`slug#p03`), exact.
    pub id: Field,
    /// Article slug, exact: filters by article.
    pub article: Field,
    /// "body", "note", "reference" or "article" (one record per article with its citations).
    pub kind: Field,
    /// The passage text without reference markers, analysed.
    pub text: Field,
    /// The section path's headings, analysed.
    pub section: Field,
    /// The article's title and other names, analysed.
    pub title: Field,
    /// The serialized passage (or article record), stored only.
    pub payload: Field,
    /// Reading order, for stable tie-breaking.
    pub ordinal: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let analysed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            article: builder.add_text_field("article", STRING),
            kind: builder.add_text_field("kind", STRING),
            text: builder.add_text_field("text", analysed.clone()),
            section: builder.add_text_field("section", analysed.clone()),
            title: builder.add_text_field("title", analysed),
            payload: builder.add_bytes_field("payload", STORED),
            ordinal: builder.add_u64_field("ordinal", INDEXED | FAST),
        };
        (builder.build(), fields)
    }

    fn from_schema(schema: &Schema) -> Result<Fields, String> {
        let field = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| format!("field {name} missing"))
        };
        Ok(Fields {
            id: field("id")?,
            article: field("article")?,
            kind: field("kind")?,
            text: field("text")?,
            section: field("section")?,
            title: field("title")?,
            payload: field("payload")?,
            ordinal: field("ordinal")?,
        })
    }
}

/// Everything about an article that is not a passage: stored once per article.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArticleRecord {
    pub info: ArticleInfo,
    pub aliases: Vec<String>,
    pub specialty: Option<String>,
    pub citations: Vec<Citation>,
}

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
}

impl Manifest {
    fn matches(&self, config: &Config, fingerprint: &str) -> bool {
        self.format == INDEX_FORMAT
            && self.program_version == env!("CARGO_PKG_VERSION")
            && self.sources_hash == env!("CITEBOT_INDEX_SOURCES_HASH")
            && self.max_passage_bytes == config.passages.max_passage_bytes
            && self.corpus_fingerprint == fingerprint
    }
}

/// What a rebuild did, for the `citebot index` summary.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub manifest: Manifest,
    pub generation: PathBuf,
    pub took: Duration,
}

/// Why the index cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    Stale(&'static str),
    Corrupt(String),
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staleness::Missing => write!(f, "no index yet"),
            Staleness::Stale(why) => write!(f, "index is stale: {why}"),
            Staleness::Corrupt(why) => write!(f, "index is unreadable: {why}"),
        }
    }
}

/// The generation folder `CURRENT` names, if any.
pub fn current_generation(index_dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(index_dir.join(CURRENT)).ok()?;
    let name = name.trim();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    Some(index_dir.join(name))
}

/// Whether the live index matches the corpus and this program. `Ok(())` means usable.
pub fn check(config: &Config) -> Result<(), Staleness> {
    let fingerprint = corpus::fingerprint(&config.corpus_dir)
        .map_err(|e| Staleness::Corrupt(format!("corpus cannot be read: {e}")))?;
    let Some(generation) = current_generation(&config.index_dir) else {
        return Err(Staleness::Missing);
    };
    let manifest = read_manifest(&generation)?;
    if manifest.format != INDEX_FORMAT
        || manifest.program_version != env!("CARGO_PKG_VERSION")
        || manifest.sources_hash != env!("CITEBOT_INDEX_SOURCES_HASH")
    {
        return Err(Staleness::Stale("built by another version of citebot"));
    }
    if !manifest.matches(config, &fingerprint) {
        return Err(Staleness::Stale(
            "the corpus or the passage settings changed",
        ));
    }
    Ok(())
}

fn read_manifest(generation: &Path) -> Result<Manifest, Staleness> {
    let text = std::fs::read_to_string(generation.join(MANIFEST)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Staleness::Corrupt(format!("{} has no manifest", generation.display()))
        } else {
            Staleness::Corrupt(format!("{}: {e}", generation.join(MANIFEST).display()))
        }
    })?;
    serde_json::from_str(&text).map_err(|e| Staleness::Corrupt(format!("manifest: {e}")))
}

/// Options for [`rebuild`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RebuildOptions {
    /// Called with (passages indexed so far, passages in all) while indexing.
    pub progress: Option<fn(u64, u64)>,
}

/// Rebuilds the index from the corpus, atomically: the previous generation keeps serving
/// until the new one is complete. Holds the build lock, so two rebuilds run one after the other.
pub fn rebuild(config: &Config, options: RebuildOptions) -> Result<BuildReport> {
    let started = Instant::now();
    let index_dir = &config.index_dir;
    std::fs::create_dir_all(index_dir).map_err(|source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    })?;
    let lock = open_lock(index_dir)?;
    lock.lock().map_err(|source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    })?;
    remove_leftovers(index_dir);

    let (articles, fingerprint) = corpus::load_corpus(&config.corpus_dir, config.passage_limits())?;

    let generation_name = format!(
        "gen-{}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
        std::process::id()
    );
    let temporary = index_dir.join(format!(".tmp-{generation_name}"));
    let result = write_generation(
        config,
        &articles,
        &fingerprint,
        &temporary,
        started,
        options,
    );
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&temporary);
            return Err(error);
        }
    };
    let generation = index_dir.join(&generation_name);
    let not_writable = |source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    };
    std::fs::rename(&temporary, &generation).map_err(not_writable)?;
    let pointer = index_dir.join(format!(".tmp-{CURRENT}"));
    let published = File::create(&pointer)
        .and_then(|mut file| {
            file.write_all(generation_name.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&pointer, index_dir.join(CURRENT)));
    if let Err(source) = published {
        // The old generation keeps serving; leave nothing of the failed one behind.
        let _ = std::fs::remove_file(&pointer);
        let _ = std::fs::remove_dir_all(&generation);
        return Err(not_writable(source));
    }
    sync_dir(index_dir);
    remove_old_generations(index_dir, &generation_name);
    drop(lock);
    Ok(BuildReport {
        manifest,
        generation,
        took: started.elapsed(),
    })
}

fn open_lock(index_dir: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(index_dir.join(LOCK))
        .map_err(|source| Error::IndexNotWritable {
            path: index_dir.to_path_buf(),
            source,
        })
}

fn write_generation(
    config: &Config,
    articles: &[Article],
    fingerprint: &str,
    folder: &Path,
    started: Instant,
    options: RebuildOptions,
) -> Result<Manifest> {
    let index_error = |source| Error::Index {
        path: folder.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(folder).map_err(|source| Error::IndexNotWritable {
        path: folder.to_path_buf(),
        source,
    })?;
    let (schema, fields) = Fields::schema();
    let index = Index::create_in_dir(folder, schema).map_err(index_error)?;
    index.tokenizers().register(TOKENIZER, analyzer());
    // One indexing thread writes one segment. A small corpus indexes in milliseconds either
    // way, and one segment answers ~25% faster (each term is looked up and scored once), so
    // parallel indexing is kept for corpora where it pays.
    let total_passages: usize = articles.iter().map(|a| a.passages.len()).sum();
    let threads = if total_passages < 20_000 {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
    };
    let mut writer: IndexWriter = index
        .writer_with_num_threads(threads, 64_000_000 * threads)
        .map_err(index_error)?;

    let total: u64 = articles.iter().map(|a| a.passages.len() as u64).sum();
    let mut done = 0u64;
    let mut ordinal = 0u64;
    let mut warnings = Vec::new();
    for article in articles {
        for warning in &article.warnings {
            warnings.push(format!(
                "{}.txt line {}: {}",
                article.slug, warning.line, warning.message
            ));
        }
        let aliases = article.aliases();
        let title_text = std::iter::once(article.title.clone())
            .chain(aliases.iter().cloned())
            .collect::<Vec<_>>()
            .join(". ");
        let record = ArticleRecord {
            info: ArticleInfo::for_article(article),
            aliases,
            specialty: article.infobox_value("Specialty").map(str::to_string),
            citations: article.references.clone(),
        };
        let record_bytes = serde_json::to_vec(&record).unwrap_or_default();
        writer
            .add_document(doc!(
                fields.id => format!("{}#article", article.slug),
                fields.article => article.slug.clone(),
                fields.kind => "article",
                fields.payload => record_bytes,
                fields.ordinal => ordinal,
            ))
            .map_err(index_error)?;
        ordinal += 1;
        for passage in &article.passages {
            writer
                .add_document(passage_document(&fields, passage, &title_text, ordinal))
                .map_err(index_error)?;
            ordinal += 1;
            done += 1;
            if let Some(progress) = options.progress {
                if done.is_multiple_of(10_000) || done == total {
                    progress(done, total);
                }
            }
        }
    }
    writer.commit().map_err(index_error)?;
    writer.wait_merging_threads().map_err(index_error)?;

    let manifest = Manifest {
        format: INDEX_FORMAT,
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        sources_hash: env!("CITEBOT_INDEX_SOURCES_HASH").to_string(),
        corpus_fingerprint: fingerprint.to_string(),
        max_passage_bytes: config.passages.max_passage_bytes,
        articles: articles.len(),
        passages: articles.iter().map(|a| a.body_passages().count()).sum(),
        references: articles.iter().map(|a| a.references.len()).sum(),
        warnings,
        build_millis: started.elapsed().as_millis() as u64,
    };
    let manifest_path = folder.join(MANIFEST);
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let mut file = File::create(&manifest_path).map_err(|source| Error::IndexNotWritable {
        path: manifest_path.clone(),
        source,
    })?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::IndexNotWritable {
            path: manifest_path,
            source,
        })?;
    Ok(manifest)
}

fn passage_document(
    fields: &Fields,
    passage: &Passage,
    title_text: &str,
    ordinal: u64,
) -> TantivyDocument {
    let kind = match passage.kind {
        PassageKind::Body => "body",
        PassageKind::Note => "note",
        PassageKind::Reference(_) => "reference",
    };
    doc!(
        fields.id => passage.id.clone(),
        fields.article => passage.article.clone(),
        fields.kind => kind,
        fields.text => searchable_text(passage),
        fields.section => passage.section_path.0.join(". "),
        fields.title => title_text.to_string(),
        fields.payload => serde_json::to_vec(passage).unwrap_or_default(),
        fields.ordinal => ordinal,
    )
}

/// The passage a document stores (what [`passage_document`] wrote), or `None` when the stored
/// bytes cannot be read back.
pub fn stored_passage(fields: &Fields, document: &TantivyDocument) -> Option<Passage> {
    let bytes = document.get_first(fields.payload)?.as_bytes()?;
    serde_json::from_slice(bytes).ok()
}

/// The passage text with its reference markers blanked out: `[3]` and `527–530` are not words
/// a question would match.
pub fn searchable_text(passage: &Passage) -> String {
    if !matches!(passage.kind, PassageKind::Body | PassageKind::Note) {
        return passage.text.clone();
    }
    crate::article::strip_markers(&passage.text)
}

/// Removes `.tmp-*` folders left by a killed rebuild. Runs under the build lock.
fn remove_leftovers(index_dir: &Path) {
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
fn remove_old_generations(index_dir: &Path, live: &str) {
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

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// An opened generation: the tantivy index, its reader and the article records.
pub struct OpenIndex {
    pub generation: PathBuf,
    pub index: Index,
    pub reader: tantivy::IndexReader,
    pub fields: Fields,
    pub articles: Vec<ArticleRecord>,
    pub manifest: Manifest,
}

/// Opens the live generation. Errors mean missing or corrupt; the caller decides to rebuild.
pub fn open(index_dir: &Path) -> Result<OpenIndex, Staleness> {
    let generation = current_generation(index_dir).ok_or(Staleness::Missing)?;
    let manifest = read_manifest(&generation)?;
    let corrupt = |e: tantivy::TantivyError| Staleness::Corrupt(e.to_string());
    let directory = tantivy::directory::MmapDirectory::open(&generation)
        .map_err(|e| Staleness::Corrupt(e.to_string()))?;
    let index = Index::open(LiveGeneration(directory)).map_err(corrupt)?;
    // Flipped bytes inside a segment make tantivy panic on first read.
    // Checksums read every byte, so they are verified only where that stays cheap; larger
    // indexes rely on the panic guard around each question (Engine::ask).
    if manifest.passages <= CHECKSUM_PASSAGE_LIMIT {
        match index.validate_checksum() {
            Ok(damaged) if damaged.is_empty() => {}
            Ok(damaged) => {
                return Err(Staleness::Corrupt(format!(
                    "{} damaged file(s), checksum mismatch",
                    damaged.len()
                )))
            }
            Err(error) => return Err(Staleness::Corrupt(error.to_string())),
        }
    }
    index.tokenizers().register(TOKENIZER, analyzer());
    let fields = Fields::from_schema(&index.schema()).map_err(Staleness::Corrupt)?;
    let reader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .map_err(corrupt)?;
    let articles = load_article_records(&reader, &fields).map_err(Staleness::Corrupt)?;
    check_postings(&reader, &fields).map_err(Staleness::Corrupt)?;
    if articles.len() != manifest.articles {
        return Err(Staleness::Corrupt(format!(
            "manifest lists {} articles, the index holds {}",
            manifest.articles,
            articles.len()
        )));
    }
    Ok(OpenIndex {
        generation,
        index,
        reader,
        fields,
        articles,
        manifest,
    })
}

/// Reads the first term's postings of the text field in every segment: a truncated or damaged
/// segment opens fine and fails here, at open time, rather than on a user's question.
fn check_postings(reader: &tantivy::IndexReader, fields: &Fields) -> Result<(), String> {
    use tantivy::DocSet;
    let searcher = reader.searcher();
    for segment in searcher.segment_readers() {
        let inverted = segment
            .inverted_index(fields.text)
            .map_err(|e| e.to_string())?;
        let mut terms = inverted.terms().stream().map_err(|e| e.to_string())?;
        if terms.advance() {
            let info = terms.value().clone();
            let mut postings = inverted
                .read_postings_from_terminfo(&info, IndexRecordOption::WithFreqsAndPositions)
                .map_err(|e| e.to_string())?;
            while postings.advance() != tantivy::TERMINATED {}
        }
    }
    Ok(())
}

fn load_article_records(
    reader: &tantivy::IndexReader,
    fields: &Fields,
) -> Result<Vec<ArticleRecord>, String> {
    use tantivy::collector::TopDocs;
    use tantivy::query::TermQuery;

    let searcher = reader.searcher();
    let query = TermQuery::new(
        tantivy::Term::from_field_text(fields.kind, "article"),
        IndexRecordOption::Basic,
    );
    let limit = (searcher.num_docs() as usize).max(1);
    let top = searcher
        .search(
            &query,
            &TopDocs::with_limit(limit).order_by_u64_field("ordinal", tantivy::Order::Asc),
        )
        .map_err(|e| e.to_string())?;
    let mut records = Vec::with_capacity(top.len());
    for (_, address) in top {
        let document: TantivyDocument = searcher.doc(address).map_err(|e| e.to_string())?;
        let bytes = document
            .get_first(fields.payload)
            .and_then(|value| value.as_bytes())
            .ok_or("article record without payload")?;
        let record: ArticleRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        records.push(record);
    }
    Ok(records)
}

/// A live generation's folder, as tantivy sees it. A live generation is never written again, so
/// the lock tantivy's reader takes to read its metadata protects nothing; on a read-only file
/// system (or folder) that lock cannot even be created, and the index must still be served.
#[derive(Debug, Clone)]
struct LiveGeneration(tantivy::directory::MmapDirectory);

impl tantivy::Directory for LiveGeneration {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> Result<
        std::sync::Arc<dyn tantivy::directory::FileHandle>,
        tantivy::directory::error::OpenReadError,
    > {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), tantivy::directory::error::DeleteError> {
        self.0.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, tantivy::directory::error::OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(
        &self,
        path: &Path,
    ) -> Result<tantivy::directory::WritePtr, tantivy::directory::error::OpenWriteError> {
        self.0.open_write(path)
    }

    fn atomic_read(
        &self,
        path: &Path,
    ) -> Result<Vec<u8>, tantivy::directory::error::OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.0.atomic_write(path, data)
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        self.0.sync_directory()
    }

    fn acquire_lock(
        &self,
        lock: &tantivy::directory::Lock,
    ) -> Result<tantivy::directory::DirectoryLock, tantivy::directory::error::LockError> {
        match self.0.acquire_lock(lock) {
            Err(tantivy::directory::error::LockError::IoError(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                Ok(tantivy::directory::DirectoryLock::from(Box::new(())))
            }
            other => other,
        }
    }

    fn watch(
        &self,
        watch_callback: tantivy::directory::WatchCallback,
    ) -> tantivy::Result<tantivy::directory::WatchHandle> {
        self.0.watch(watch_callback)
    }
}
