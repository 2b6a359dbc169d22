//! What one index generation lets search remember between questions ([`SearchCache`]):
//! analysed passages, document frequencies, spelling corrections, BM25 term weights and the
//! articles' names.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, RwLock};

use tantivy::query::{Query, TermQuery, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, TantivyDocument, Term};

use super::analysed::{analyse_passage, AnalysedPassage, StemSet};
use super::spelling::correct_spelling;
use crate::index::Fields;

/// What one index generation lets citebot remember between questions: decoded passages with
/// their words (decoding and analysing a passage costs more than scoring it), document
/// frequencies, and spelling corrections. All of them are fixed for a generation.
#[derive(Default)]
pub struct SearchCache {
    pub(super) entries: RwLock<HashMap<DocAddress, Arc<AnalysedPassage>>>,
    pub(super) corrections: RwLock<HashMap<String, Option<String>>>,
    pub(super) frequencies: RwLock<HashMap<String, [u64; 3]>>,
    /// Tokens per field, which tantivy's BM25 needs for every term of every question.
    pub(super) total_tokens: RwLock<HashMap<u32, u64>>,
    /// BM25 weights of (field, stem): tantivy computes a 256-entry table and an explanation
    /// for every term of every query; for a generation they never change.
    pub(super) weights: RwLock<HashMap<(u32, String), Arc<dyn Weight>>>,
    /// Each article's names (title and other names) as stems, for questions naming one.
    pub(super) article_names: RwLock<Option<Arc<ArticleNames>>>,
}

/// Each article's slug with its names (title and other names), each as a stem set.
pub(super) type ArticleNames = Vec<(String, Vec<StemSet>)>;

/// Bound on cached term weights (about 1 KB each).
const WEIGHT_CACHE_CAPACITY: usize = 8_192;

/// Bound on each cache, so a huge corpus or a stream of odd questions cannot grow memory
/// without limit.
const CACHE_CAPACITY: usize = 50_000;

/// Reads a cache. A cache holds only complete entries, so one left by a thread that panicked
/// while holding it is still right: the poison is ignored.
pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes a cache (see [`read`]). Read-write locks: answers on several threads mostly hit the
/// caches, and readers do not wait for each other.
pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inserts into a bounded cache, emptying it first when full (simple, and a generation's
/// working set is far smaller than the bound).
fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= CACHE_CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

impl SearchCache {
    pub(super) fn correction(
        &self,
        searcher: &tantivy::Searcher,
        fields: &Fields,
        stem: &str,
    ) -> Option<String> {
        if let Some(found) = read(&self.corrections).get(stem) {
            return found.clone();
        }
        let found = correct_spelling(searcher, fields, stem);
        insert_bounded(
            &mut write(&self.corrections),
            stem.to_string(),
            found.clone(),
        );
        found
    }

    /// Document frequencies of `stem` in the text, section and title fields.
    pub(super) fn frequencies(
        &self,
        searcher: &tantivy::Searcher,
        fields: &Fields,
        stem: &str,
    ) -> [u64; 3] {
        if let Some(found) = read(&self.frequencies).get(stem) {
            return *found;
        }
        let lookup = |field| {
            searcher
                .doc_freq(&Term::from_field_text(field, stem))
                .unwrap_or(0)
        };
        let found = [
            lookup(fields.text),
            lookup(fields.section),
            lookup(fields.title),
        ];
        insert_bounded(&mut write(&self.frequencies), stem.to_string(), found);
        found
    }

    pub(super) fn get(
        &self,
        searcher: &tantivy::Searcher,
        fields: &Fields,
        address: DocAddress,
    ) -> Option<Arc<AnalysedPassage>> {
        if let Some(found) = read(&self.entries).get(&address) {
            return Some(Arc::clone(found));
        }
        let document: TantivyDocument = searcher.doc(address).ok()?;
        let passage = crate::index::stored_passage(fields, &document)?;
        let ordinal = crate::index::ordinal_of(searcher, address);
        let analysed = Arc::new(analyse_passage(passage, ordinal));
        insert_bounded(&mut write(&self.entries), address, Arc::clone(&analysed));
        Some(analysed)
    }
}

impl SearchCache {
    /// The BM25 weight of `stem` in `field`, computed once a generation.
    pub(super) fn term_weight(
        &self,
        searcher: &tantivy::Searcher,
        fields: &Fields,
        field: tantivy::schema::Field,
        stem: &str,
    ) -> Option<Arc<dyn Weight>> {
        let key = (field.field_id(), stem.to_string());
        if let Some(found) = read(&self.weights).get(&key) {
            return Some(Arc::clone(found));
        }
        let statistics = CachedStatistics {
            searcher,
            fields,
            cache: self,
        };
        let query = TermQuery::new(
            Term::from_field_text(field, stem),
            IndexRecordOption::WithFreqs,
        );
        let weight: Arc<dyn Weight> = match query.weight(
            tantivy::query::EnableScoring::enabled_from_statistics_provider(&statistics, searcher),
        ) {
            Ok(weight) => Arc::from(weight),
            Err(error) => {
                tracing::warn!(%error, stem, "term weight failed");
                return None;
            }
        };
        let mut weights = write(&self.weights);
        if weights.len() >= WEIGHT_CACHE_CAPACITY {
            weights.clear();
        }
        weights.insert(key, Arc::clone(&weight));
        Some(weight)
    }
}

/// A term query whose weight was computed before (see [`SearchCache::term_weight`]).
#[derive(Clone)]
pub(super) struct SharedTermQuery(pub(super) Arc<dyn Weight>);

impl std::fmt::Debug for SharedTermQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTermQuery")
    }
}

impl Query for SharedTermQuery {
    fn weight(&self, _: tantivy::query::EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(SharedWeight(Arc::clone(&self.0))))
    }
}

/// A shared weight, passed through: tantivy's boolean query still sees term scorers (its
/// block-max WAND needs them), and the boost is applied when a scorer is made.
struct SharedWeight(Arc<dyn Weight>);

impl Weight for SharedWeight {
    fn scorer(
        &self,
        reader: &tantivy::SegmentReader,
        boost: tantivy::Score,
    ) -> tantivy::Result<Box<dyn tantivy::query::Scorer>> {
        self.0.scorer(reader, boost)
    }

    fn explain(
        &self,
        reader: &tantivy::SegmentReader,
        doc: tantivy::DocId,
    ) -> tantivy::Result<tantivy::query::Explanation> {
        self.0.explain(reader, doc)
    }

    fn count(&self, reader: &tantivy::SegmentReader) -> tantivy::Result<u32> {
        self.0.count(reader)
    }

    fn for_each_pruning(
        &self,
        threshold: tantivy::Score,
        reader: &tantivy::SegmentReader,
        callback: &mut dyn FnMut(tantivy::DocId, tantivy::Score) -> tantivy::Score,
    ) -> tantivy::Result<()> {
        self.0.for_each_pruning(threshold, reader, callback)
    }
}

/// BM25 statistics from the generation's cache: tantivy asks for the document frequency of
/// every term of the query and the token count of its field, which the cache already knows.
struct CachedStatistics<'a> {
    searcher: &'a tantivy::Searcher,
    fields: &'a Fields,
    cache: &'a SearchCache,
}

impl tantivy::query::Bm25StatisticsProvider for CachedStatistics<'_> {
    fn total_num_tokens(&self, field: tantivy::schema::Field) -> tantivy::Result<u64> {
        if let Some(found) = read(&self.cache.total_tokens).get(&field.field_id()) {
            return Ok(*found);
        }
        let total = self.searcher.total_num_tokens(field)?;
        write(&self.cache.total_tokens).insert(field.field_id(), total);
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.searcher.num_docs())
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let column = [self.fields.text, self.fields.section, self.fields.title]
            .iter()
            .position(|&field| field == term.field());
        match (column, term.value().as_str()) {
            (Some(column), Some(stem)) => {
                Ok(self.cache.frequencies(self.searcher, self.fields, stem)[column])
            }
            _ => self.searcher.doc_freq(term),
        }
    }
}
