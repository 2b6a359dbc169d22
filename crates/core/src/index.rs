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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{doc, Index, IndexWriter, TantivyDocument};

use crate::article::Article;
use crate::citation::{Citation, RefNumber};
use crate::config::Config;
use crate::corpus::{self, ArticleFile, ArticleInfo, FileDigest};
use crate::error::{Error, Result};
use crate::passage::{Marker, MarkerTarget, Passage, PassageKind, SectionPath, Sentence};

/// Bump when the schema, the tokenizer or the parser's output changes: an index built with
/// another format is rebuilt. 3: analysed fields without positions, `ordinal` a fast field only.
/// 4: the passages' token vectors beside their embeddings (`tokens.bin`). 5: `tokens.bin` mapped,
/// with its rarities and an offset table.
pub const INDEX_FORMAT: u32 = 5;

/// The analyzer every text field and every question goes through: words, lowercased, accents
/// folded ("Kérob" → "kerob"), English stems ("nodules" → "nodul").
pub const TOKENIZER: &str = "citebot_en";

const CURRENT: &str = "CURRENT";
const MANIFEST: &str = "manifest.json";
/// Each corpus file's metadata and content hash when the generation was built (see
/// [`corpus::fingerprint_with`]): lets the staleness check skip reading unchanged files.
const FILE_TABLE: &str = "corpus-files.bin";
const LOCK: &str = ".build.lock";
/// Up to this many passages, opening an index verifies every file's checksum (about 1 ms per
/// 10,000 passages here).
const CHECKSUM_PASSAGE_LIMIT: usize = 50_000;
/// Below this many corpus bytes (about 20,000 passages) one tantivy thread indexes into one
/// segment: it takes milliseconds either way, and one segment answers ~25% faster.
const ONE_SEGMENT_CORPUS_BYTES: u64 = 6_000_000;
/// tantivy's indexing memory per thread: a segment is flushed when it is full. Larger means
/// fewer segments (less merging, faster queries), smaller means a lower peak RSS.
const WRITER_HEAP_PER_THREAD: usize = 128_000_000;
/// Parsed articles a worker may run ahead of the one being added, so memory stays bounded
/// whatever the corpus size.
const PARSE_WINDOW: usize = 64;
/// Words whose normal form an analyzer remembers (per field and indexing thread): Zipf's law
/// makes most tokens repeats, and stemming is the costliest step of analysis.
const NORMAL_FORM_CACHE: usize = 16_384;

/// Builds the analyzer registered as [`TOKENIZER`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(NormalForm)
        .build()
}

/// The stems of `text`, in order, as `analyzer` makes them.
pub(crate) fn stems(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// What one token becomes in general: lowercased, accents folded, stemmed. [`NormalForm`]
/// uses it for words with non-ASCII letters; applied to a single token it gives exactly what
/// these filters give in a token chain.
fn normal_form_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// `LowerCaser`, `AsciiFoldingFilter` and the English `Stemmer`, with the same output, made
/// cheaper for indexing: an ASCII word is lowercased in place (folding leaves ASCII alone)
/// and stemmed through a cache of the words already seen (Zipf's law makes most tokens
/// repeats, and stemming was a fifth of the build's CPU).
#[derive(Clone, Copy)]
struct NormalForm;

impl TokenFilter for NormalForm {
    type Tokenizer<T: Tokenizer> = NormalFormFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> NormalFormFilter<T> {
        NormalFormFilter {
            inner,
            cache: FxHashMap::default(),
            general: normal_form_analyzer(),
        }
    }
}

struct NormalFormFilter<T> {
    inner: T,
    /// Lowercase ASCII word → its stem.
    cache: FxHashMap<Box<str>, Box<str>>,
    general: TextAnalyzer,
}

impl<T: Clone> Clone for NormalFormFilter<T> {
    fn clone(&self) -> Self {
        // A clone serves another field or thread: it starts with its own, empty, cache.
        NormalFormFilter {
            inner: self.inner.clone(),
            cache: FxHashMap::default(),
            general: self.general.clone(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for NormalFormFilter<T> {
    type TokenStream<'a> = NormalFormStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        NormalFormStream {
            tail: self.inner.token_stream(text),
            cache: &mut self.cache,
            general: &mut self.general,
        }
    }
}

struct NormalFormStream<'a, T> {
    tail: T,
    cache: &'a mut FxHashMap<Box<str>, Box<str>>,
    general: &'a mut TextAnalyzer,
}

impl<T: TokenStream> TokenStream for NormalFormStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if !token.text.is_ascii() {
            let mut stream = self.general.token_stream(&token.text);
            let normal = if stream.advance() {
                Some(std::mem::take(&mut stream.token_mut().text))
            } else {
                None
            };
            drop(stream);
            if let Some(normal) = normal {
                token.text = normal;
            }
            return true;
        }
        token.text.make_ascii_lowercase();
        if let Some(stem) = self.cache.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stemmed: String = english_stemmer().stem(&token.text).into_owned();
        if self.cache.len() < NORMAL_FORM_CACHE {
            self.cache
                .insert(token.text.as_str().into(), stemmed.as_str().into());
        }
        token.text = stemmed;
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

fn english_stemmer() -> &'static rust_stemmers::Stemmer {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
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
    /// Reading order, for stable tie-breaking (a fast field, not searchable).
    pub ordinal: Field,
    /// On article records only: the title, ASCII-lowercased, exact (finds an article by title
    /// without loading every record).
    pub title_key: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        // Frequencies, no positions: every query is a term query scored by BM25 (nothing
        // reads positions). Dropping them (with indexing `ordinal`) took a 1M-passage build
        // from 95 to 81 CPU-seconds and its index from 579 to 513 MB.
        let analysed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            article: builder.add_text_field("article", STRING),
            kind: builder.add_text_field("kind", STRING),
            text: builder.add_text_field("text", analysed.clone()),
            section: builder.add_text_field("section", analysed.clone()),
            title: builder.add_text_field("title", analysed),
            payload: builder.add_bytes_field("payload", STORED),
            // Only sorted on (a fast field), never searched: indexing it added one unique term
            // per document to the term dictionary.
            ordinal: builder.add_u64_field("ordinal", FAST),
            title_key: builder.add_text_field("title_key", STRING),
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
            title_key: field("title_key")?,
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
    /// Called with (passages indexed so far, passages in all) while indexing. Articles are
    /// parsed as they are indexed, so "in all" is an estimate from the bytes read so far until
    /// the last call, which is exact.
    pub progress: Option<fn(u64, u64)>,
}

/// Rebuilds the index from the corpus, atomically: the previous generation keeps serving
/// until the new one is complete. Holds the build lock, so two rebuilds run one after the other.
///
/// Articles are read and parsed by a pool of threads and added to the index as they come, in
/// file order (so ids and ordinals do not depend on timing): memory stays bounded by tantivy's
/// writer heap and a window of parsed articles, whatever the corpus size.
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

    let files = corpus::list_articles(&config.corpus_dir)?;

    let generation_name = format!(
        "gen-{}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
        std::process::id()
    );
    let temporary = index_dir.join(format!(".tmp-{generation_name}"));
    let result = write_generation(config, &files, &temporary, started, options);
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

/// One article, read, parsed and turned into documents by a worker thread; the documents get
/// their ordinals when they are added, in file order.
struct PreparedArticle {
    digest: FileDigest,
    /// The article record, then the passages in reading order.
    documents: Vec<TantivyDocument>,
    warnings: Vec<String>,
    body_passages: usize,
    references: usize,
}

fn prepare_article(
    fields: &Fields,
    file: &ArticleFile,
    limits: crate::article::PassageLimits,
) -> Result<PreparedArticle> {
    let (article, digest) = corpus::read_article_digest(file, limits)?;
    let warnings = article
        .warnings
        .iter()
        .map(|warning| {
            format!(
                "{}.txt line {}: {}",
                article.slug, warning.line, warning.message
            )
        })
        .collect();
    let aliases = article.aliases();
    let title_text = std::iter::once(article.title.clone())
        .chain(aliases.iter().cloned())
        .collect::<Vec<_>>()
        .join(". ");
    let body_passages = article.body_passages().count();
    let references = article.references.len();
    let mut documents = Vec::with_capacity(article.passages.len() + 1);
    documents.push(record_document(fields, &article, aliases));
    for passage in &article.passages {
        documents.push(passage_document(fields, passage, &title_text));
    }
    Ok(PreparedArticle {
        digest,
        documents,
        warnings,
        body_passages,
        references,
    })
}

fn record_document(fields: &Fields, article: &Article, aliases: Vec<String>) -> TantivyDocument {
    let record = ArticleRecord {
        info: ArticleInfo::for_article(article),
        aliases,
        specialty: article.infobox_value("Specialty").map(str::to_string),
        citations: article.references.clone(),
    };
    let record_bytes = serde_json::to_vec(&record).unwrap_or_default();
    doc!(
        fields.id => format!("{}#article", article.slug),
        fields.article => article.slug.clone(),
        fields.kind => "article",
        fields.title_key => article.title.to_ascii_lowercase(),
        fields.payload => record_bytes,
    )
}

/// Hands out article numbers to workers, never more than [`PARSE_WINDOW`] ahead of the next
/// article to be added.
struct WorkQueue {
    next: AtomicUsize,
    added: Mutex<usize>,
    moved: Condvar,
    stop: AtomicBool,
}

impl WorkQueue {
    /// The next article to prepare, or `None` when there is none or the build stopped.
    fn take(&self, count: usize) -> Option<usize> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        if number >= count {
            return None;
        }
        let mut added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        while number >= *added + PARSE_WINDOW && !self.stop.load(Ordering::Relaxed) {
            added = self.moved.wait(added).unwrap_or_else(|e| e.into_inner());
        }
        (!self.stop.load(Ordering::Relaxed)).then_some(number)
    }

    fn set_added(&self, added: usize) {
        *self.added.lock().unwrap_or_else(|e| e.into_inner()) = added;
        self.moved.notify_all();
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _guard = self.added.lock().unwrap_or_else(|e| e.into_inner());
        self.moved.notify_all();
    }
}

/// What the adding loop counted.
#[derive(Default)]
struct Totals {
    digests: Vec<FileDigest>,
    warnings: Vec<String>,
    body_passages: usize,
    references: usize,
}

fn write_generation(
    config: &Config,
    files: &[ArticleFile],
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
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let total_bytes: u64 = files.iter().map(|f| f.stat.len).sum();
    // One indexing thread writes one segment. A small corpus indexes in milliseconds either
    // way, and one segment answers ~25% faster (each term is looked up and scored once), so
    // parallel indexing is kept for corpora where it pays.
    let threads = if total_bytes < ONE_SEGMENT_CORPUS_BYTES {
        1
    } else {
        cores
    };
    let writer: IndexWriter = index
        .writer_with_num_threads(threads, WRITER_HEAP_PER_THREAD * threads)
        .map_err(index_error)?;
    let workers = cores.min(files.len()).max(1);
    let limits = config.passage_limits();

    let queue = WorkQueue {
        next: AtomicUsize::new(0),
        added: Mutex::new(0),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<(usize, Result<PreparedArticle>)>(workers * 2);
    let mut writer = writer;
    let added = std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (queue, fields) = (&queue, &fields);
            scope.spawn(move || {
                while let Some(number) = queue.take(files.len()) {
                    let prepared = prepare_article(fields, &files[number], limits);
                    if sender.send((number, prepared)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let added = add_in_order(
            &writer,
            &fields,
            files.len(),
            total_bytes,
            receiver,
            &queue,
            options,
        );
        if added.is_err() {
            queue.stop();
        }
        added
    });
    let totals = match added {
        Ok(totals) => totals,
        Err(Some(error)) => {
            // Stop tantivy's threads before the caller removes the folder.
            let _ = writer.rollback();
            return Err(error);
        }
        Err(None) => {
            let cause = writer.commit().err().unwrap_or_else(|| {
                tantivy::TantivyError::ErrorInThread("the indexing threads stopped".to_string())
            });
            return Err(index_error(cause));
        }
    };
    writer.commit().map_err(index_error)?;
    writer.wait_merging_threads().map_err(index_error)?;
    let meaning = embed_passages(config, &index, &fields, folder)?;

    let table_path = folder.join(FILE_TABLE);
    write_synced(&table_path, &corpus::encode_digests(&totals.digests))?;
    let manifest = Manifest {
        format: INDEX_FORMAT,
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        sources_hash: env!("CITEBOT_INDEX_SOURCES_HASH").to_string(),
        corpus_fingerprint: corpus::combine(&totals.digests),
        max_passage_bytes: config.passages.max_passage_bytes,
        articles: totals.digests.len(),
        passages: totals.body_passages,
        references: totals.references,
        warnings: totals.warnings,
        build_millis: started.elapsed().as_millis() as u64,
        meaning,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_synced(&folder.join(MANIFEST), &bytes)?;
    Ok(manifest)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|source| Error::IndexNotWritable {
        path: path.to_path_buf(),
        source,
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::IndexNotWritable {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the passages' sentence embeddings into the generation when the meaning model is
/// installed (and enabled); returns the model's fingerprint for the manifest.
fn embed_passages(
    config: &Config,
    index: &Index,
    fields: &Fields,
    folder: &Path,
) -> Result<Option<String>> {
    let Some(model) = crate::meaning::shared(&config.meaning)? else {
        return Ok(None);
    };
    let reader: tantivy::IndexReader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .map_err(|source| Error::Index {
            path: folder.to_path_buf(),
            source,
        })?;
    let passages = passages_by_ordinal(&reader.searcher(), fields);
    crate::embeddings::write(folder, &passages, &model)?;
    Ok(Some(model.fingerprint().to_string()))
}

/// Every passage of a freshly built index with its document ordinal, in ordinal order: what
/// the embeddings writer is fed.
fn passages_by_ordinal(searcher: &tantivy::Searcher, fields: &Fields) -> Vec<(u64, Passage)> {
    let mut found = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let Ok(ordinals) = segment.fast_fields().u64("ordinal") else {
            continue;
        };
        for doc_id in 0..segment.max_doc() {
            let address = tantivy::DocAddress::new(segment_ord as u32, doc_id);
            let Some(ordinal) = ordinals.first(doc_id) else {
                continue;
            };
            let Ok(document) = searcher.doc::<TantivyDocument>(address) else {
                continue;
            };
            if let Some(passage) = stored_passage(fields, &document) {
                found.push((ordinal, passage));
            }
        }
    }
    found.sort_by_key(|(ordinal, _)| *ordinal);
    found
}

/// Receives prepared articles in any order and adds them to the index in file order, giving
/// every document its ordinal. The first failing article (in file order) stops the build.
/// `Err(None)` means tantivy refused a document: its indexing threads stopped, and committing
/// says why (a full disk, typically).
fn add_in_order(
    writer: &IndexWriter,
    fields: &Fields,
    count: usize,
    total_bytes: u64,
    receiver: std::sync::mpsc::Receiver<(usize, Result<PreparedArticle>)>,
    queue: &WorkQueue,
    options: RebuildOptions,
) -> Result<Totals, Option<Error>> {
    let mut totals = Totals {
        digests: Vec::with_capacity(count),
        ..Totals::default()
    };
    let mut waiting: BTreeMap<usize, Result<PreparedArticle>> = BTreeMap::new();
    let mut next = 0usize;
    let mut ordinal = 0u64;
    let (mut passages_done, mut bytes_done, mut reported) = (0u64, 0u64, 0u64);
    while next < count {
        let prepared = match waiting.remove(&next) {
            Some(prepared) => prepared,
            None => match receiver.recv() {
                Ok((number, prepared)) => {
                    waiting.insert(number, prepared);
                    continue;
                }
                // Every worker has gone: one panicked (the scope re-raises it).
                Err(_) => break,
            },
        };
        let prepared = prepared.map_err(Some)?;
        let passages = prepared.documents.len() as u64 - 1;
        // One document at a time: tantivy's queue holds at most 10,000 operations, and that
        // bounds memory only if an operation is one document.
        for mut document in prepared.documents {
            document.add_u64(fields.ordinal, ordinal);
            ordinal += 1;
            writer.add_document(document).map_err(|_| None)?;
        }
        bytes_done += prepared.digest.len;
        totals.digests.push(prepared.digest);
        totals.warnings.extend(prepared.warnings);
        totals.body_passages += prepared.body_passages;
        totals.references += prepared.references;
        next += 1;
        queue.set_added(next);
        passages_done += passages;
        if let Some(progress) = options.progress {
            if next == count {
                progress(passages_done, passages_done);
            } else if passages_done >= reported + 10_000 {
                reported = passages_done;
                let estimate =
                    (passages_done as f64 * total_bytes as f64 / bytes_done.max(1) as f64) as u64;
                progress(passages_done, estimate.max(passages_done));
            }
        }
    }
    Ok(totals)
}

fn passage_document(fields: &Fields, passage: &Passage, title_text: &str) -> TantivyDocument {
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
        fields.payload => encode_passage(passage),
    )
}

/// The passage a document stores (what [`passage_document`] wrote), or `None` when the stored
/// bytes cannot be read back.
pub fn stored_passage(fields: &Fields, document: &TantivyDocument) -> Option<Passage> {
    let bytes = document.get_first(fields.payload)?.as_bytes()?;
    decode_passage(bytes)
}

/// The ordinal of the document at `address`: its place in file order, fixed at rebuild, which
/// keys what a generation stores beside tantivy (the passage embeddings).
pub fn ordinal_of(searcher: &tantivy::Searcher, address: tantivy::DocAddress) -> Option<u64> {
    searcher
        .segment_reader(address.segment_ord)
        .fast_fields()
        .u64("ordinal")
        .ok()?
        .first(address.doc_id)
}

/// The passage text with its reference markers blanked out: `[3]` and `527–530` are not words
/// a question would match.
pub fn searchable_text(passage: &Passage) -> String {
    if !matches!(passage.kind, PassageKind::Body | PassageKind::Note) {
        return passage.text.clone();
    }
    crate::article::strip_markers(&passage.text)
}

// ---------------------------------------------------------------------------------------------
// The stored passage: a compact binary form (a JSON payload was a tenth of the build's CPU and
// most of the doc store). Varint lengths and numbers, UTF-8 strings; the first byte is the
// payload's version.

const PASSAGE_PAYLOAD_VERSION: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn encode_passage(passage: &Passage) -> Vec<u8> {
    let mut out = Vec::with_capacity(passage.text.len() + 128);
    out.push(PASSAGE_PAYLOAD_VERSION);
    put_str(&mut out, &passage.id);
    put_str(&mut out, &passage.article);
    put_str(&mut out, &passage.article_title);
    put_varint(&mut out, passage.section_path.0.len() as u64);
    for heading in &passage.section_path.0 {
        put_str(&mut out, heading);
    }
    match passage.kind {
        PassageKind::Body => out.push(0),
        PassageKind::Note => out.push(1),
        PassageKind::Reference(number) => {
            out.push(2);
            put_varint(&mut out, u64::from(number.0));
        }
    }
    put_str(&mut out, &passage.text);
    put_varint(&mut out, passage.sentences.len() as u64);
    for sentence in &passage.sentences {
        put_varint(&mut out, sentence.start as u64);
        put_varint(&mut out, sentence.end as u64);
        put_varint(&mut out, sentence.markers.len() as u64);
        for marker in &sentence.markers {
            match &marker.target {
                MarkerTarget::Reference(number) => {
                    out.push(0);
                    put_varint(&mut out, u64::from(number.0));
                }
                MarkerTarget::Note(label) => {
                    out.push(1);
                    put_str(&mut out, label);
                }
                MarkerTarget::CitationNeeded => out.push(2),
            }
            match &marker.locator {
                Some(locator) => {
                    out.push(1);
                    put_str(&mut out, locator);
                }
                None => out.push(0),
            }
        }
    }
    out
}

struct PayloadReader<'a>(&'a [u8]);

impl<'a> PayloadReader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn count(&mut self) -> Option<usize> {
        let count = usize::try_from(self.varint()?).ok()?;
        // Every element takes at least a byte: a count beyond that is damage.
        (count <= self.0.len()).then_some(count)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.count()?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok().map(str::to_string)
    }

    fn ref_number(&mut self) -> Option<RefNumber> {
        u32::try_from(self.varint()?).ok().map(RefNumber)
    }
}

fn decode_passage(bytes: &[u8]) -> Option<Passage> {
    let mut input = PayloadReader(bytes);
    if input.byte()? != PASSAGE_PAYLOAD_VERSION {
        return None;
    }
    let id = input.string()?;
    let article = input.string()?;
    let article_title = input.string()?;
    let headings = input.count()?;
    let section_path = SectionPath(
        (0..headings)
            .map(|_| input.string())
            .collect::<Option<Vec<_>>>()?,
    );
    let kind = match input.byte()? {
        0 => PassageKind::Body,
        1 => PassageKind::Note,
        2 => PassageKind::Reference(input.ref_number()?),
        _ => return None,
    };
    let text = input.string()?;
    let count = input.count()?;
    let mut sentences = Vec::with_capacity(count);
    for _ in 0..count {
        let start = usize::try_from(input.varint()?).ok()?;
        let end = usize::try_from(input.varint()?).ok()?;
        if start > end
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            return None;
        }
        let markers = input.count()?;
        let mut list = Vec::with_capacity(markers);
        for _ in 0..markers {
            let target = match input.byte()? {
                0 => MarkerTarget::Reference(input.ref_number()?),
                1 => MarkerTarget::Note(input.string()?),
                2 => MarkerTarget::CitationNeeded,
                _ => return None,
            };
            let locator = match input.byte()? {
                0 => None,
                1 => Some(input.string()?),
                _ => return None,
            };
            list.push(Marker { target, locator });
        }
        sentences.push(Sentence {
            start,
            end,
            markers: list,
        });
    }
    if !input.0.is_empty() {
        return None;
    }
    Some(Passage {
        id,
        article,
        article_title,
        section_path,
        kind,
        text,
        sentences,
    })
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

/// Article records kept decoded: the articles of recent answers. Larger corpora are read per
/// article, never all at once.
const RECORD_CACHE: usize = 256;

/// An opened generation: the tantivy index, its reader, and article records read on demand.
pub struct OpenIndex {
    pub generation: PathBuf,
    pub index: Index,
    pub reader: tantivy::IndexReader,
    pub fields: Fields,
    pub manifest: Manifest,
    /// The passages' sentence embeddings, when the generation was built with the model.
    pub embeddings: Option<crate::embeddings::Embeddings>,
    article_count: usize,
    records: Mutex<FxHashMap<String, Arc<ArticleRecord>>>,
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
    check_postings(&reader, &fields).map_err(Staleness::Corrupt)?;
    let searcher = reader.searcher();
    let article_count = searcher
        .doc_freq(&tantivy::Term::from_field_text(fields.kind, "article"))
        .map_err(corrupt)? as usize;
    if article_count != manifest.articles {
        return Err(Staleness::Corrupt(format!(
            "manifest lists {} articles, the index holds {}",
            manifest.articles, article_count
        )));
    }
    let embeddings = match manifest.meaning {
        Some(_) => Some(
            crate::embeddings::Embeddings::read(&generation, &searcher)
                .map_err(Staleness::Corrupt)?,
        ),
        None => None,
    };
    let open = OpenIndex {
        generation,
        index,
        reader,
        fields,
        manifest,
        embeddings,
        article_count,
        records: Mutex::new(FxHashMap::default()),
    };
    // Read one record now: a damaged store fails here rather than on a user's command.
    let first = open
        .article_slugs()
        .map_err(Staleness::Corrupt)?
        .into_iter()
        .next()
        .ok_or_else(|| Staleness::Corrupt("no article record".to_string()))?;
    open.fetch_record(&first)
        .map_err(Staleness::Corrupt)?
        .ok_or_else(|| Staleness::Corrupt(format!("article {first} has no record")))?;
    Ok(open)
}

impl OpenIndex {
    /// How many articles the index holds.
    pub fn article_count(&self) -> usize {
        self.article_count
    }

    /// Every article's slug, in reading order (the corpus's file order), from the term
    /// dictionary: no record is read.
    pub fn article_slugs(&self) -> Result<Vec<String>, String> {
        let searcher = self.reader.searcher();
        let mut slugs: Vec<String> = Vec::with_capacity(self.article_count);
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(self.fields.article)
                .map_err(|e| e.to_string())?;
            let mut terms = inverted.terms().stream().map_err(|e| e.to_string())?;
            while terms.advance() {
                slugs.push(String::from_utf8_lossy(terms.key()).into_owned());
            }
        }
        slugs.sort_unstable();
        slugs.dedup();
        Ok(slugs)
    }

    /// The record of the article with slug `slug`, if there is one.
    pub fn article_record(&self, slug: &str) -> Option<Arc<ArticleRecord>> {
        if let Some(record) = lock(&self.records).get(slug) {
            return Some(Arc::clone(record));
        }
        match self.fetch_record(slug) {
            Ok(Some(record)) => {
                let record = Arc::new(record);
                let mut cache = lock(&self.records);
                if cache.len() >= RECORD_CACHE {
                    cache.clear();
                }
                cache.insert(slug.to_string(), Arc::clone(&record));
                Some(record)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::error!(article = slug, %error, index = %self.generation.display(), "article record unreadable: run `citebot index`");
                None
            }
        }
    }

    /// The article named `name`: by slug, or by title ignoring ASCII case. When several match,
    /// the first in reading order.
    pub fn find_article(&self, name: &str) -> Option<Arc<ArticleRecord>> {
        use tantivy::collector::TopDocs;
        use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};

        let term_query = |field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                tantivy::Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        let query = BooleanQuery::new(vec![
            (
                Occur::Should,
                term_query(self.fields.id, &format!("{name}#article")),
            ),
            (
                Occur::Should,
                term_query(self.fields.title_key, &name.to_ascii_lowercase()),
            ),
        ]);
        let searcher = self.reader.searcher();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            searcher.search(
                &query,
                &TopDocs::with_limit(1).order_by_u64_field("ordinal", tantivy::Order::Asc),
            )
        }));
        let (_, address) = *found.ok()?.ok()?.first()?;
        let document: TantivyDocument = searcher.doc(address).ok()?;
        let id = document.get_first(self.fields.id)?.as_str()?;
        self.article_record(id.strip_suffix("#article")?)
    }

    /// Every article's record, in reading order: reads them all (slow for a large corpus).
    pub fn article_records(&self) -> Vec<Arc<ArticleRecord>> {
        let slugs = self.article_slugs().unwrap_or_default();
        if slugs.len() <= RECORD_CACHE {
            return slugs
                .iter()
                .filter_map(|slug| self.article_record(slug))
                .collect();
        }
        // Past the cache's size, read without caching rather than churn it.
        slugs
            .iter()
            .filter_map(|slug| self.fetch_record(slug).ok().flatten().map(Arc::new))
            .collect()
    }

    /// Reads and decodes one article record. A damaged store can make tantivy panic: that is
    /// an error here, not a crash.
    fn fetch_record(&self, slug: &str) -> Result<Option<ArticleRecord>, String> {
        use tantivy::collector::TopDocs;
        use tantivy::query::TermQuery;

        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            tantivy::Term::from_field_text(self.fields.id, &format!("{slug}#article")),
            IndexRecordOption::Basic,
        );
        let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let top = searcher
                .search(&query, &TopDocs::with_limit(1))
                .map_err(|e| e.to_string())?;
            let Some(&(_, address)) = top.first() else {
                return Ok(None);
            };
            let document: TantivyDocument = searcher.doc(address).map_err(|e| e.to_string())?;
            let bytes = document
                .get_first(self.fields.payload)
                .and_then(|value| value.as_bytes())
                .ok_or("article record without payload")?;
            let record: ArticleRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            Ok(Some(record))
        }));
        fetched.unwrap_or_else(|_| Err(format!("reading the record of {slug} panicked")))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
                .read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)
                .map_err(|e| e.to_string())?;
            while postings.advance() != tantivy::TERMINATED {}
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_analyzer_gives_what_the_filter_chain_gives() {
        let mut chain = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(Language::English))
            .build();
        let mut cached = analyzer();
        let text = "Nodules NODULES nodules nodule Kérob Æsthetic naïve ÉCOLE Straße İstanbul \
                    calcinosis Calcinosis CUTIS 2004 x9 running Runner's diltiazem's \
                    antimicrotubule Colchicine colchicine ﬁnal supercalifragilisticexpialidocious-words";
        // Twice: the second pass is served by the cache.
        for _ in 0..2 {
            assert_eq!(stems(&mut cached, text), stems(&mut chain, text));
        }
        let mut clone = cached.clone();
        assert_eq!(stems(&mut clone, text), stems(&mut chain, text));
    }

    fn sample_passage() -> Passage {
        Passage {
            id: "some-article#p03".to_string(),
            article: "some-article".to_string(),
            article_title: "Some article — é".to_string(),
            section_path: SectionPath(vec!["Treatment".to_string(), "Drugs".to_string()]),
            kind: PassageKind::Body,
            text: "Colchicine helps.[3][a]: 45 It is cheap.[citation needed]".to_string(),
            sentences: vec![
                Sentence {
                    start: 0,
                    end: 25,
                    markers: vec![
                        Marker {
                            target: MarkerTarget::Reference(RefNumber(3)),
                            locator: None,
                        },
                        Marker {
                            target: MarkerTarget::Note("a".to_string()),
                            locator: Some("45".to_string()),
                        },
                    ],
                },
                Sentence {
                    start: 26,
                    end: 57,
                    markers: vec![Marker {
                        target: MarkerTarget::CitationNeeded,
                        locator: None,
                    }],
                },
            ],
        }
    }

    #[test]
    fn stored_passages_read_back_as_written() {
        let mut passage = sample_passage();
        assert_eq!(
            decode_passage(&encode_passage(&passage)),
            Some(passage.clone())
        );
        passage.kind = PassageKind::Reference(RefNumber(300_000));
        passage.section_path = SectionPath::default();
        passage.sentences.clear();
        assert_eq!(
            decode_passage(&encode_passage(&passage)),
            Some(passage.clone())
        );
        passage.kind = PassageKind::Note;
        assert_eq!(decode_passage(&encode_passage(&passage)), Some(passage));
    }

    #[test]
    fn damaged_payloads_are_refused_not_misread() {
        let bytes = encode_passage(&sample_passage());
        for cut in 0..bytes.len() {
            assert_eq!(decode_passage(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_passage(&longer), None);
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xff;
            // Any result but a panic; a decoded passage keeps its sentence ranges valid.
            if let Some(passage) = decode_passage(&flipped) {
                for sentence in &passage.sentences {
                    let _ = &passage.text[sentence.start..sentence.end];
                }
            }
        }
    }
}
