//! Opening the live generation (checked before it serves a question) and reading its article
//! records on demand.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, TantivyDocument};

use super::directory::LiveGeneration;
use super::generations::current_generation;
use super::manifest::{read_manifest, Manifest, Staleness};
use super::schema::{ArticleRecord, Fields};
use super::{analyzer, TOKENIZER};

/// Up to this many passages, opening an index verifies every file's checksum (about 1 ms per
/// 10,000 passages here).
const CHECKSUM_PASSAGE_LIMIT: usize = 50_000;

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
