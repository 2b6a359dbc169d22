//! Retrieval and ranking: from an analysed question to ranked passages, the sentences that
//! answer, and the decision to answer or abstain.
//!
//! 1. Each meaningful word of the question becomes a concept with variants: the word itself,
//!    its synonyms, and, when the index does not know the word, its closest spelling in the
//!    index's own term dictionary (never outranking exact words).
//! 2. tantivy's BM25 over text, section headings and title fetches candidates.
//! 3. Candidates are re-ranked by how much of the question they cover (each concept weighted
//!    by its rarity), which is also the evidence the abstention decision rests on.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Instant;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery, Weight};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, TantivyDocument, Term};

use crate::answer::{AbstainReason, Answer, Hit, Verdict};
use crate::config::SearchSettings;
use crate::embeddings::QuestionMeaning;
use crate::index::{Fields, OpenIndex};
use crate::meaning::{MeaningModel, Pair, Reader, ReaderDecision};
use crate::passage::{Passage, PassageKind};
use crate::query::{self, AnalysedQuestion, Concept, Origin, Variant, Vocabulary};
use crate::ranker::{CandidateFeatures, QuestionFeatures, Ranker, TokenMatch};

/// What one index generation lets citebot remember between questions: decoded passages with
/// their words (decoding and analysing a passage costs more than scoring it), document
/// frequencies, and spelling corrections. All of them are fixed for a generation.
#[derive(Default)]
pub struct SearchCache {
    entries: RwLock<HashMap<DocAddress, Arc<AnalysedPassage>>>,
    corrections: RwLock<HashMap<String, Option<String>>>,
    frequencies: RwLock<HashMap<String, [u64; 3]>>,
    /// Tokens per field, which tantivy's BM25 needs for every term of every question.
    total_tokens: RwLock<HashMap<u32, u64>>,
    /// BM25 weights of (field, stem): tantivy computes a 256-entry table and an explanation
    /// for every term of every query; for a generation they never change.
    weights: RwLock<HashMap<(u32, String), Arc<dyn Weight>>>,
    /// Each article's names (title and other names) as stems, for questions naming one.
    article_names: RwLock<Option<Arc<ArticleNames>>>,
}

/// Each article's slug with its names (title and other names), each as a stem set.
type ArticleNames = Vec<(String, Vec<StemSet>)>;

/// Bound on cached term weights (about 1 KB each).
const WEIGHT_CACHE_CAPACITY: usize = 8_192;

/// Bound on each cache, so a huge corpus or a stream of odd questions cannot grow memory
/// without limit.
const CACHE_CAPACITY: usize = 50_000;

/// A stem as a number: a 64-bit hash of its text. Re-ranking compares every word of the
/// question with every sentence of twenty passages; numbers make that cheap. Two different
/// stems sharing a hash (odds about 1 in 10¹⁹ a pair) would at worst make one word count as
/// the other in the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct StemId(u64);

impl StemId {
    fn of(stem: &str) -> StemId {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: stable for the life of the process, and not easy to
        // collide on purpose (the question is user input).
        let mut hasher = std::hash::DefaultHasher::new();
        stem.hash(&mut hasher);
        StemId(hasher.finish())
    }
}

/// A set of stems, as sorted ids: compact, and a lookup is a short binary search.
#[derive(Default)]
struct StemSet(Box<[StemId]>);

impl StemSet {
    fn contains(&self, id: StemId) -> bool {
        self.0.binary_search(&id).is_ok()
    }
}

impl FromIterator<StemId> for StemSet {
    fn from_iter<I: IntoIterator<Item = StemId>>(iter: I) -> StemSet {
        let mut ids: Vec<StemId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        StemSet(ids.into_boxed_slice())
    }
}

/// A passage and the stems of its words, whole and per sentence.
pub struct AnalysedPassage {
    pub passage: Arc<Passage>,
    /// Stems of the text.
    stems: StemSet,
    /// Stems of the section headings and the title, which name a topic without saying
    /// anything about it: a match there counts for less than one in the text.
    heading_stems: StemSet,
    /// Stems of each sentence.
    sentence_stems: Vec<StemSet>,
    /// The passage only introduces a list that the plain-text copy lost ("such as: [3]").
    is_lost_list_intro: bool,
    /// Stems of the article's title.
    title_stems: StemSet,
    /// Adjacent pairs of informative words (stop words skipped), as ids: a question's
    /// "renal failure" held as a phrase says more than both words somewhere in the passage.
    bigrams: StemSet,
    /// Words in the text.
    words: usize,
    /// The passage's place in the index (its document ordinal), which keys its embedding.
    ordinal: Option<u64>,
}

/// Reads a cache. A cache holds only complete entries, so one left by a thread that panicked
/// while holding it is still right: the poison is ignored.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes a cache (see [`read`]). Read-write locks: answers on several threads mostly hit the
/// caches, and readers do not wait for each other.
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
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
    fn correction(
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
    fn frequencies(&self, searcher: &tantivy::Searcher, fields: &Fields, stem: &str) -> [u64; 3] {
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

    fn get(
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
    fn term_weight(
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
struct SharedTermQuery(Arc<dyn Weight>);

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

/// Calls `each` with every stem of `text`, with the index's own analyzer.
fn for_each_stem(text: &str, mut each: impl FnMut(&str)) {
    query::with_analyzer(|analyzer| {
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            each(&stream.token().text);
        }
    });
}

fn stem_set(texts: &[&str]) -> StemSet {
    let mut ids = Vec::new();
    for text in texts {
        for_each_stem(text, |stem| ids.push(StemId::of(stem)));
    }
    ids.into_iter().collect()
}

/// The id of an adjacent pair of stems.
fn bigram_id(first: StemId, second: StemId) -> StemId {
    StemId(first.0.rotate_left(21) ^ second.0.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn analyse_passage(passage: Passage, ordinal: Option<u64>) -> AnalysedPassage {
    // One pass over the text: each word goes to the text's set and to its sentence's set.
    // References keep their text as is (as the index does: see `index::searchable_text`).
    let text = match passage.kind {
        PassageKind::Body | PassageKind::Note => crate::article::blank_markers(&passage.text),
        PassageKind::Reference(_) => passage.text.clone(),
    };
    let mut text_ids = Vec::new();
    let mut bigram_ids = Vec::new();
    let mut previous: Option<StemId> = None;
    let mut sentence_ids: Vec<Vec<StemId>> = vec![Vec::new(); passage.sentences.len()];
    let mut sentence = 0;
    query::with_analyzer(|analyzer| {
        let mut stream = analyzer.token_stream(&text);
        while stream.advance() {
            let token = stream.token();
            let id = StemId::of(&token.text);
            text_ids.push(id);
            if !query::is_stop_stem(&token.text) {
                if let Some(before) = previous {
                    bigram_ids.push(bigram_id(before, id));
                }
                previous = Some(id);
            }
            while passage
                .sentences
                .get(sentence)
                .is_some_and(|s| token.offset_from >= s.end)
            {
                sentence += 1;
            }
            if let Some(ids) = sentence_ids.get_mut(sentence) {
                if token.offset_from >= passage.sentences[sentence].start {
                    ids.push(id);
                }
            }
        }
    });
    let headings = passage.section_path.0.join(" ");
    let is_lost_list_intro = text.trim_end().ends_with(':');
    AnalysedPassage {
        words: text_ids.len(),
        bigrams: bigram_ids.into_iter().collect(),
        ordinal,
        stems: text_ids.into_iter().collect(),
        heading_stems: stem_set(&[&headings, &passage.article_title]),
        title_stems: stem_set(&[&passage.article_title]),
        sentence_stems: sentence_ids.into_iter().map(StemSet::from_iter).collect(),
        is_lost_list_intro,
        passage: Arc::new(passage),
    }
}

/// A concept with what the index knows of it.
struct WeightedConcept {
    concept: Concept,
    /// Inverse document frequency of the concept's best-known variant; for a word the index
    /// does not know at all, the weight of a rare word (it is what the question is about).
    idf: f32,
    /// Whether any variant occurs in the index.
    known: bool,
    /// The variants as stem ids, with what a match of each is worth.
    matches: Vec<(Box<[StemId]>, f32)>,
}

/// What answering needs besides the question: the index, its cache, the vocabulary, the
/// settings, the learned ranker, and (when the generation has embeddings and the model is
/// installed) the question's meaning.
pub struct Context<'a> {
    pub open: &'a OpenIndex,
    pub cache: &'a SearchCache,
    pub vocabulary: &'a Vocabulary,
    pub settings: &'a SearchSettings,
    pub ranker: &'a Ranker,
    pub meaning: Option<&'a QuestionMeaning>,
    /// The reader and the model it runs on; `None` without them (or without the question's
    /// meaning), and the decision is the ranker's alone.
    pub reader: Option<Reading<'a>>,
}

/// The reader and the model it runs on.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub model: &'a MeaningModel,
    pub reader: &'a Reader,
}

impl Reading<'_> {
    /// The reader's score of each of the first passages shown (at most `reader.reads`), best
    /// first: how far "this passage answers" is above "none answers", in logits.
    fn scores(&self, question: &str, ranked: &[Ranked]) -> Vec<f32> {
        let pairs: Vec<Pair> = ranked
            .iter()
            .take(self.reader.reads)
            .map(|candidate| {
                let passage = &candidate.analysed.passage;
                let sentences: Vec<&str> = (0..passage.sentences.len())
                    .map(|index| passage.sentence_text(index))
                    .collect();
                let focus = candidate.best_sentences.first().copied().unwrap_or(0);
                self.model
                    .pair(question, &sentences, focus, self.reader.shape)
            })
            .collect();
        self.model.read(self.reader, &pairs)
    }
}

/// Answers `question`, returning at most `top` hits.
pub fn answer(context: &Context<'_>, question: &str, top: usize) -> Answer {
    let started = Instant::now();
    let finish = |verdict: Verdict, hits: Vec<Hit>, not_in_article: Vec<String>| Answer {
        question: question.to_string(),
        verdict,
        hits,
        not_in_article,
        closest_only: false,
        took: started.elapsed(),
    };
    let Some(candidates) = candidates(context, question) else {
        return finish(
            Verdict::Abstained(AbstainReason::NoSearchableWords),
            Vec::new(),
            Vec::new(),
        );
    };
    let Candidates {
        ranked,
        features,
        not_in_article,
        reference_number,
        has_content,
    } = candidates;
    // "reference 99999" of an article with 21 references asks for nothing else.
    if ranked.is_empty() || !has_content {
        let reason = if not_in_article.is_empty() {
            AbstainReason::NoMatch
        } else {
            AbstainReason::NotInArticle
        };
        return finish(Verdict::Abstained(reason), Vec::new(), not_in_article);
    }
    // "reference 15" names what it wants: no decision to make.
    let decision = reference_number
        .is_none()
        .then(|| decide(context, question, &ranked, &features));
    if decision
        .as_ref()
        .is_some_and(|decision| !decision.answers())
    {
        let shares_a_word = ranked.iter().any(|candidate| candidate.bm25 > 0.0);
        let reader_refused = matches!(
            decision,
            Some(Decision::Reader {
                ranker_answers: true,
                ..
            })
        );
        let reason = if !not_in_article.is_empty() {
            AbstainReason::NotInArticle
        } else if shares_a_word && reader_refused {
            AbstainReason::NotStated
        } else if shares_a_word {
            AbstainReason::WeakEvidence
        } else {
            // Only the meaning step found anything: no passage holds a word of the question.
            AbstainReason::NoMatch
        };
        return finish(Verdict::Abstained(reason), Vec::new(), not_in_article);
    }
    let best_score = ranked[0].score;
    let show_margin = context.model().show_margin();
    let hits = ranked
        .into_iter()
        .take(top)
        .map(|candidate| Hit {
            best_sentences: candidate.best_sentences,
            score: candidate.score,
            coverage: candidate.features.coverage,
            answers_too: best_score - candidate.score <= show_margin,
            passage: candidate.analysed.passage.clone(),
        })
        .collect();
    let mut answer = finish(Verdict::Answered, hits, not_in_article);
    answer.closest_only = decision.is_some_and(|decision| decision.unsure());
    answer
}

/// The decision to answer: the reader's (its scores of the first passages shown, joined with
/// the ranker's decision) when it is on, else the ranker's alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Ranker {
        answers: bool,
    },
    Reader {
        /// What the ranker's decision alone says.
        ranker_answers: bool,
        /// The best reader score of the passages read.
        best: f32,
        decision: ReaderDecision,
    },
}

impl Decision {
    pub fn answers(&self) -> bool {
        match *self {
            Decision::Ranker { answers } => answers,
            Decision::Reader {
                ranker_answers,
                best,
                decision,
            } => ranker_answers && best >= decision.veto_below,
        }
    }

    /// Answers, but the reader is unsure the passages say exactly what was asked.
    pub fn unsure(&self) -> bool {
        match *self {
            Decision::Ranker { .. } => false,
            Decision::Reader { best, decision, .. } => {
                self.answers() && best < decision.unsure_below
            }
        }
    }
}

fn decide(
    context: &Context<'_>,
    question: &str,
    ranked: &[Ranked],
    features: &QuestionFeatures,
) -> Decision {
    let model = context.model();
    match context.reader {
        Some(reading) => {
            let text = query::truncate_chars(question, context.settings.max_question_chars);
            let scores = reading.scores(text, ranked);
            Decision::Reader {
                ranker_answers: model.answers(features),
                best: ReaderDecision::best(&scores),
                decision: reading.reader.decision,
            }
        }
        None => Decision::Ranker {
            answers: model.answers(features),
        },
    }
}

impl Context<'_> {
    fn model(&self) -> &crate::ranker::Model {
        self.ranker.model(self.meaning.is_some())
    }
}

/// Every candidate of a question with its features, ranked, and what the decision to answer
/// sees. `None` when the question has no searchable words.
pub struct Candidates {
    ranked: Vec<Ranked>,
    pub features: QuestionFeatures,
    /// Specific terms of the question (treatments, doses…) the corpus never mentions.
    pub not_in_article: Vec<String>,
    reference_number: Option<u32>,
    /// The question has a word beyond those asking for a citation, or names a reference the
    /// article has.
    has_content: bool,
}

impl Candidates {
    /// Each candidate's passage, features, token match, raw BM25 score and best sentences,
    /// best first (for scripts/train.py and scripts/train_reader.py).
    pub fn each(
        &self,
    ) -> impl Iterator<
        Item = (
            &Passage,
            &CandidateFeatures,
            Option<&TokenMatch>,
            f32,
            &[usize],
        ),
    > {
        self.ranked.iter().map(|r| {
            (
                r.analysed.passage.as_ref(),
                &r.features,
                r.token_match.as_ref(),
                r.bm25,
                r.best_sentences.as_slice(),
            )
        })
    }

    /// The ranker's decision logit (see [`crate::ranker::Model::answer_logit`]) and, when the
    /// reader is on, its scores of the first passages shown (for scripts/train_reader.py).
    pub fn decision_inputs(
        &self,
        context: &Context<'_>,
        question: &str,
    ) -> (f32, Option<Vec<f32>>) {
        let logit = context.model().answer_logit(&self.features);
        let scores = context.reader.map(|reading| {
            let text = query::truncate_chars(question, context.settings.max_question_chars);
            reading.scores(text, &self.ranked)
        });
        (logit, scores)
    }
}

/// Fetches, describes and ranks the candidates of `question`. Public for the training data
/// command (`citebot train-data`), which needs every candidate, answered or not.
pub fn candidates(context: &Context<'_>, question: &str) -> Option<Candidates> {
    let Context {
        open,
        cache,
        vocabulary,
        settings,
        meaning,
        ..
    } = *context;
    let text = query::truncate_chars(question, settings.max_question_chars);
    let mut analysed = query::analyse(text, vocabulary, settings.max_query_terms);
    if analysed.concepts.is_empty() && analysed.reference_number.is_none() {
        return None;
    }

    let searcher = open.reader.searcher();
    let fields = &open.fields;
    let concepts = weigh_concepts(
        &searcher,
        fields,
        std::mem::take(&mut analysed.concepts),
        settings,
        cache,
    );
    if tracing::enabled!(tracing::Level::DEBUG) {
        for weighted in &concepts {
            let variants: Vec<String> = weighted
                .concept
                .variants
                .iter()
                .map(|v| format!("{}:{:?}", v.stems.join("+"), v.origin))
                .collect();
            tracing::debug!(word = %weighted.concept.word, idf = weighted.idf, known = weighted.known, cue = weighted.concept.is_cue, variants = ?variants, "concept");
        }
    }
    let not_in_article: Vec<String> = concepts
        .iter()
        .filter(|c| !c.known && vocabulary.is_specific_term(&c.concept.stem))
        .map(|c| c.concept.word.clone())
        .collect();
    let query = build_query(&searcher, fields, &concepts, settings, cache);
    // Every clause carries a weight computed beforehand from the cached statistics
    // (`SearchCache::term_weight`), so a plain search needs no statistics of its own.
    let mut fetched = match searcher.search(&query, &TopDocs::with_limit(settings.candidates)) {
        Ok(fetched) => fetched,
        Err(error) => {
            tracing::warn!(%error, "search failed");
            Vec::new()
        }
    };
    // The passages nearest in meaning join BM25's, so a question in other words than the
    // article's can still reach its answer.
    if let Some(meaning) = meaning {
        for &(address, _) in meaning.nearest() {
            if !fetched.iter().any(|&(_, a)| a == address) {
                fetched.push((0.0, address));
            }
        }
    }
    let mut ranked = rank(
        &searcher, fields, cache, &concepts, &analysed, fetched, context,
    );
    let names = article_names(open, cache);
    keep_named_articles(&mut ranked, &concepts, &names);
    // "reference 15" names what it wants, and needs no decision to answer; a number the
    // article has no reference for is an ordinary question again.
    let reference_number = analysed
        .reference_number
        .filter(|&number| promote_reference(&searcher, fields, cache, &mut ranked, number));
    if tracing::enabled!(tracing::Level::DEBUG) {
        for candidate in ranked.iter().take(5) {
            tracing::debug!(id = %candidate.analysed.passage.id, score = candidate.score, features = ?candidate.features, "candidate");
        }
    }
    let total_weight: f32 = concepts.iter().map(|c| c.idf).sum::<f32>().max(1e-6);
    let unknown: f32 = concepts.iter().filter(|c| !c.known).map(|c| c.idf).sum();
    let top = ranked.first();
    let features = QuestionFeatures {
        top_score: top.map_or(0.0, |r| r.score),
        margin: match (ranked.first(), ranked.get(1)) {
            (Some(first), Some(second)) => first.score - second.score,
            _ => 0.0,
        },
        top_coverage: top.map_or(0.0, |r| r.features.coverage),
        top_text_coverage: top.map_or(0.0, |r| r.features.text_coverage),
        top_sentence_coverage: top.map_or(0.0, |r| r.features.sentence_coverage),
        top_bigrams: top.map_or(0.0, |r| r.features.bigrams),
        unknown_share: unknown / total_weight,
        missing_specific: f32::from(!not_in_article.is_empty()),
        words: (1.0 + concepts.len() as f32).ln(),
        wants_citation: f32::from(analysed.wants_citation),
        top_meaning: top.map_or(0.0, |r| r.features.meaning),
        best_meaning: meaning.map_or(0.0, QuestionMeaning::best),
        top_bm25: top.map_or(0.0, |r| r.bm25.ln_1p()),
    };
    // The decision above saw the order it was trained on; the order shown is refined by
    // token matching. Not for questions about the cited works or "reference 15", whose
    // order follows the citations.
    let model = context.model();
    if model.orders_by_tokens() && !analysed.wants_citation && reference_number.is_none() {
        for candidate in &mut ranked {
            if let Some(score) = candidate
                .token_match
                .as_ref()
                .and_then(|matched| model.order_score(&candidate.features, matched))
            {
                candidate.score = score;
            }
        }
        sort_ranked(&mut ranked);
    }
    // In "reference 99999" the number is the reference asked for, not a word to search.
    let asks_by_number = analysed.reference_number.is_some();
    let has_content = reference_number.is_some()
        || concepts.iter().any(|c| {
            let only_asks_for_a_citation = analysed.wants_citation && c.concept.is_cue;
            let is_the_number =
                asks_by_number && c.concept.stem.bytes().all(|b| b.is_ascii_digit());
            !(only_asks_for_a_citation || is_the_number)
        });
    Some(Candidates {
        ranked,
        features,
        not_in_article,
        reference_number,
        has_content,
    })
}

/// The names of each article (its title and other names), as stem sets, fixed for a
/// generation.
fn article_names(open: &OpenIndex, cache: &SearchCache) -> Arc<ArticleNames> {
    if let Some(names) = read(&cache.article_names).as_ref() {
        return Arc::clone(names);
    }
    let names: ArticleNames = open
        .article_records()
        .iter()
        .map(|record| {
            let sets = std::iter::once(&record.info.title)
                .chain(&record.aliases)
                .map(|name| stem_set(&[name.as_str()]))
                .filter(|set| !set.0.is_empty())
                .collect();
            (record.info.slug.clone(), sets)
        })
        .collect();
    let names = Arc::new(names);
    *write(&cache.article_names) = Some(Arc::clone(&names));
    names
}

/// A question that names one or more articles' subjects (a title or another name, every word
/// of it) is answered from those articles only: "how is morphea treated?" must never get a
/// passage about another condition, however well its words match. With one article in the
/// corpus there is nothing to choose.
fn keep_named_articles(
    ranked: &mut Vec<Ranked>,
    concepts: &[WeightedConcept],
    names: &[(String, Vec<StemSet>)],
) {
    if names.len() < 2 {
        return;
    }
    let asked: Vec<StemId> = concepts
        .iter()
        .map(|c| StemId::of(&c.concept.stem))
        .collect();
    let named: Vec<&str> = names
        .iter()
        .filter(|(_, sets)| {
            sets.iter()
                .any(|set| set.0.iter().all(|id| asked.contains(id)))
        })
        .map(|(slug, _)| slug.as_str())
        .collect();
    if named.is_empty() {
        return;
    }
    ranked.retain(|r| named.contains(&r.analysed.passage.article.as_str()));
}

fn weigh_concepts(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    concepts: Vec<Concept>,
    settings: &SearchSettings,
    cache: &SearchCache,
) -> Vec<WeightedConcept> {
    let documents = searcher.num_docs().max(1) as f32;
    let doc_freq = |stem: &str| -> u64 {
        cache
            .frequencies(searcher, fields, stem)
            .into_iter()
            .max()
            .unwrap_or(0)
    };
    let idf = |df: u64| -> f32 { (1.0 + (documents - df as f32 + 0.5) / (df as f32 + 0.5)).ln() };
    concepts
        .into_iter()
        .map(|mut concept| {
            // Correct only a word nothing else explains: a word the synonym table maps to
            // the article's vocabulary is understood, not misspelt.
            let any_known = concept
                .variants
                .iter()
                .any(|v| v.stems.iter().all(|s| doc_freq(s) > 0));
            if !any_known && concept.variants.iter().any(|v| v.origin == Origin::Asked) {
                if let Some(correction) = cache.correction(searcher, fields, &concept.stem) {
                    concept.variants.push(Variant {
                        stems: query::Stems::from([correction]),
                        origin: Origin::Correction,
                    });
                }
            }
            let best_df = concept
                .variants
                .iter()
                .filter_map(|v| v.stems.iter().map(|s| doc_freq(s)).min())
                .filter(|&df| df > 0)
                .min();
            let known = best_df.is_some();
            let mut weight = match best_df {
                Some(df) => idf(df),
                None => idf(1) * settings.unknown_word_weight,
            };
            if concept.is_stop {
                weight *= 0.5;
            }
            let mut matches = concept
                .variants
                .iter()
                .map(|variant| {
                    let ids = variant.stems.iter().map(|s| StemId::of(s)).collect();
                    (ids, match_value(variant.origin))
                })
                .collect::<Vec<_>>();
            // Best first, so matching can stop at the first variant found.
            matches.sort_by(|a, b| b.1.total_cmp(&a.1));
            WeightedConcept {
                idf: weight,
                known,
                concept,
                matches,
            }
        })
        .collect()
}

/// The closest word to `stem` in the index's text vocabulary: one edit for short words, two
/// for long ones; among equals, the most frequent.
fn correct_spelling(searcher: &tantivy::Searcher, fields: &Fields, stem: &str) -> Option<String> {
    let length = stem.chars().count();
    if length < 4 || !stem.chars().all(char::is_alphabetic) {
        return None;
    }
    // One edit first: its automaton is small and most slips are one edit. Two edits turn too
    // many ordinary words into names ("weather" → "Wetter"): only for long words, where two
    // slips are common and collisions rare.
    closest_within(searcher, fields, stem, &ONE_EDIT).or_else(|| {
        (length >= 8)
            .then(|| closest_within(searcher, fields, stem, &TWO_EDITS))
            .flatten()
    })
}

fn closest_within(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    stem: &str,
    builder: &levenshtein_automata::LevenshteinAutomatonBuilder,
) -> Option<String> {
    let dfa = builder.build_dfa(stem);
    let mut best: Option<(u8, u32, String)> = None;
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(fields.text) else {
            continue;
        };
        let Ok(mut stream) = inverted.terms().search(DfaAutomaton(&dfa)).into_stream() else {
            continue;
        };
        while stream.advance() {
            let Ok(word) = std::str::from_utf8(stream.key()) else {
                continue;
            };
            let edits = match dfa.eval(word) {
                levenshtein_automata::Distance::Exact(edits) => edits,
                levenshtein_automata::Distance::AtLeast(_) => continue,
            };
            let frequency = stream.value().doc_freq;
            let better = match &best {
                None => true,
                Some((best_edits, best_frequency, _)) => {
                    edits < *best_edits || (edits == *best_edits && frequency > *best_frequency)
                }
            };
            if better {
                best = Some((edits, frequency, word.to_string()));
            }
        }
    }
    best.map(|(_, _, word)| word)
}

/// Building a Levenshtein automaton builder costs milliseconds; building a DFA from one is
/// cheap. So the builders are made once (transpositions count as one edit: "cuits" → "cutis").
static ONE_EDIT: LazyLock<levenshtein_automata::LevenshteinAutomatonBuilder> =
    LazyLock::new(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(1, true));
static TWO_EDITS: LazyLock<levenshtein_automata::LevenshteinAutomatonBuilder> =
    LazyLock::new(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(2, true));

/// A Levenshtein DFA walked over tantivy's term dictionary (the same wrapper tantivy's fuzzy
/// query uses internally, which is not public).
struct DfaAutomaton<'a>(&'a levenshtein_automata::DFA);

impl tantivy_fst::Automaton for DfaAutomaton<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(
            self.0.distance(*state),
            levenshtein_automata::Distance::Exact(_)
        )
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

fn origin_weight(origin: Origin, settings: &SearchSettings) -> f32 {
    match origin {
        Origin::Asked => 1.0,
        Origin::Synonym => settings.synonym_weight,
        Origin::Correction => settings.fuzzy_weight,
    }
}

fn build_query(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    concepts: &[WeightedConcept],
    settings: &SearchSettings,
    cache: &SearchCache,
) -> BooleanQuery {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut seen: HashSet<(&str, u32)> = HashSet::default();
    for weighted in concepts {
        for variant in &weighted.concept.variants {
            let weight = origin_weight(variant.origin, settings) / variant.stems.len() as f32;
            for stem in variant.stems.iter() {
                let frequencies = cache.frequencies(searcher, fields, stem);
                // Headings and titles are matched on the user's own words (and their
                // corrections); expansions search the text only, which keeps the query small.
                let own_word = variant.origin != Origin::Synonym;
                for (field, boost, frequency) in [
                    (fields.text, 1.0, frequencies[0]),
                    (
                        fields.section,
                        settings.section_boost,
                        frequencies[1] * u64::from(own_word),
                    ),
                    (
                        fields.title,
                        settings.title_boost,
                        frequencies[2] * u64::from(own_word),
                    ),
                ] {
                    // A term no document holds scores nothing and only costs a clause.
                    if frequency == 0 || !seen.insert((stem.as_str(), field.field_id())) {
                        continue;
                    }
                    let Some(term_weight) = cache.term_weight(searcher, fields, field, stem) else {
                        continue;
                    };
                    let query = SharedTermQuery(term_weight);
                    clauses.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(query), weight * boost)),
                    ));
                }
            }
        }
    }
    BooleanQuery::new(clauses)
}

/// A candidate after re-ranking.
struct Ranked {
    analysed: Arc<AnalysedPassage>,
    address: DocAddress,
    /// The raw BM25 score (0 for a candidate only the meaning step found).
    bm25: f32,
    features: CandidateFeatures,
    /// How the question's word pieces match the passage's; `None` without the meaning step.
    token_match: Option<TokenMatch>,
    score: f32,
    best_sentences: Vec<usize>,
}

/// What a match of a variant is worth: 1 for the asked word, less for an expansion.
fn match_value(origin: Origin) -> f32 {
    match origin {
        Origin::Asked => 1.0,
        Origin::Synonym => 0.8,
        Origin::Correction => 0.9,
    }
}

/// How well a set of stems holds a concept: its best variant whose stems are all there.
fn concept_match(concept: &WeightedConcept, stems: &StemSet) -> f32 {
    concept_match_where(concept, |id| stems.contains(id))
}

fn concept_match_where(concept: &WeightedConcept, contains: impl Fn(StemId) -> bool) -> f32 {
    // `matches` is sorted best first: the first variant found is the best one.
    concept
        .matches
        .iter()
        .find(|(ids, _)| ids.iter().all(|&id| contains(id)))
        .map_or(0.0, |&(_, value)| value)
}

/// A concept's match in a passage: in its text, or (for less) only in its headings.
fn passage_match(concept: &WeightedConcept, passage: &AnalysedPassage) -> f32 {
    let in_text = concept_match(concept, &passage.stems);
    if in_text >= 1.0 {
        return in_text;
    }
    in_text.max(0.7 * heading_match(concept, passage))
}

fn heading_match(concept: &WeightedConcept, passage: &AnalysedPassage) -> f32 {
    concept_match_where(concept, |id| {
        passage.stems.contains(id) || passage.heading_stems.contains(id)
    })
}

/// Orders candidates best first: by score, then by their place in the index, so equal scores
/// come out the same way in every process.
fn sort_ranked(ranked: &mut [Ranked]) {
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.address.cmp(&b.address))
    });
}

fn rank(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    concepts: &[WeightedConcept],
    analysed: &AnalysedQuestion,
    candidates: Vec<(f32, DocAddress)>,
    context: &Context<'_>,
) -> Vec<Ranked> {
    let max_bm25 = candidates
        .iter()
        .map(|(s, _)| *s)
        .fold(0.0f32, f32::max)
        .max(1e-6);
    // Words that only say "give me a citation" are not part of what the passage must cover.
    let content: Vec<&WeightedConcept> = concepts
        .iter()
        .filter(|c| !(analysed.wants_citation && c.concept.is_cue))
        .collect();
    let total_weight: f32 = content.iter().map(|c| c.idf).sum::<f32>().max(1e-6);
    // The question's adjacent informative words, in its order.
    let question_bigrams: Vec<StemId> = content
        .windows(2)
        .map(|pair| {
            bigram_id(
                StemId::of(&pair[0].concept.stem),
                StemId::of(&pair[1].concept.stem),
            )
        })
        .collect();
    let model = context.model();

    let mut ranked: Vec<Ranked> = Vec::with_capacity(candidates.len());
    for (bm25_position, (bm25, address)) in candidates.into_iter().enumerate() {
        let Some(passage) = cache.get(searcher, fields, address) else {
            continue;
        };
        let text_covered: f32 = content
            .iter()
            .map(|c| c.idf * concept_match(c, &passage.stems))
            .sum();
        let covered: f32 = content
            .iter()
            .map(|c| c.idf * passage_match(c, &passage))
            .sum();
        let (best_sentences, best_sentence_weight) = best_sentences(&passage, &content);
        let is_lead =
            passage.passage.section_path.0.is_empty() && passage.passage.kind == PassageKind::Body;
        let is_reference = !matches!(passage.passage.kind, PassageKind::Body | PassageKind::Note);
        // A question that only names the article's subject ("what is calcinosis cutis?") is
        // asked of the article as a whole: its lead, the definition, answers it.
        let names_only_subject = !content.is_empty()
            && content
                .iter()
                .all(|c| concept_match(c, &passage.title_stems) > 0.0);
        let held_bigrams = question_bigrams
            .iter()
            .filter(|&&id| passage.bigrams.contains(id))
            .count();
        let similarity = context
            .meaning
            .zip(passage.ordinal)
            .and_then(|(meaning, ordinal)| meaning.similarity(ordinal));
        let fetched_by_bm25 = bm25 > 0.0;
        let features = CandidateFeatures {
            bm25: bm25 / max_bm25,
            bm25_rank: if fetched_by_bm25 {
                1.0 / (1.0 + bm25_position as f32)
            } else {
                0.0
            },
            coverage: covered / total_weight,
            text_coverage: text_covered / total_weight,
            heading_coverage: (covered - text_covered).max(0.0) / total_weight,
            sentence_coverage: best_sentence_weight / total_weight,
            bigrams: if question_bigrams.is_empty() {
                0.0
            } else {
                held_bigrams as f32 / question_bigrams.len() as f32
            },
            lead: f32::from(is_lead),
            subject_lead: f32::from(is_lead && names_only_subject),
            reference_unwanted: f32::from(is_reference && !analysed.wants_citation),
            reference_wanted: f32::from(is_reference && analysed.wants_citation),
            lost_list_intro: f32::from(passage.is_lost_list_intro),
            length: (1.0 + passage.words as f32).ln() / 6.0,
            meaning: similarity.map_or(0.0, |(value, _)| value),
            meaning_gap: 0.0,
            meaning_rank: similarity.map_or(0.0, |(_, rank)| 1.0 / (1.0 + rank as f32)),
        };
        ranked.push(Ranked {
            analysed: passage,
            address,
            bm25,
            features,
            token_match: None,
            score: 0.0,
            best_sentences,
        });
    }
    // Every candidate's token match in one call (one buffer for the passages' vectors).
    if let (Some(embeddings), Some(meaning)) = (context.open.embeddings.as_ref(), context.meaning) {
        let ordinals: Vec<u64> = ranked
            .iter()
            .map(|r| r.analysed.ordinal.unwrap_or(u64::MAX))
            .collect();
        for (candidate, matched) in ranked
            .iter_mut()
            .zip(embeddings.token_matches(meaning, &ordinals))
        {
            candidate.token_match = matched;
        }
    }
    let best_meaning = ranked
        .iter()
        .map(|r| r.features.meaning)
        .fold(f32::MIN, f32::max);
    for candidate in &mut ranked {
        if context.meaning.is_some() {
            candidate.features.meaning_gap = candidate.features.meaning - best_meaning;
        }
        candidate.score = model.score(&candidate.features);
    }
    sort_ranked(&mut ranked);

    if analysed.wants_citation {
        follow_citations(searcher, fields, cache, &mut ranked, &content, total_weight);
    }
    ranked
}

/// For a question about a cited work ("which journal was the scrotal case in?"), the work is
/// one cited by the best body passage: its entries go first, the ones cited by the answering
/// sentence before the others, then the ones whose own text matches the question more. When
/// the ranker already put a reference entry above every body passage (the question named its
/// authors, title or journal), that entry stands.
fn follow_citations(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    ranked: &mut Vec<Ranked>,
    content: &[&WeightedConcept],
    total_weight: f32,
) {
    let Some(best_body) = ranked
        .iter()
        .position(|r| matches!(r.analysed.passage.kind, PassageKind::Body))
    else {
        return;
    };
    if ranked[..best_body]
        .iter()
        .any(|r| matches!(r.analysed.passage.kind, PassageKind::Reference(_)))
    {
        return;
    }
    let best_body = &ranked[best_body];
    let by_best_sentence: Vec<u32> = best_body
        .best_sentences
        .iter()
        .flat_map(|&i| best_body.analysed.passage.sentences[i].refs())
        .map(|n| n.0)
        .collect();
    let cited: Vec<u32> = best_body
        .analysed
        .passage
        .refs()
        .iter()
        .map(|n| n.0)
        .collect();
    let article = best_body.analysed.passage.article.clone();
    let body_features = best_body.features;
    let mut followed: Vec<(bool, f32, usize, Ranked)> = Vec::new();
    for (position, number) in cited.into_iter().enumerate() {
        let is_entry = |r: &Ranked| {
            r.analysed.passage.article == article
                && r.analysed.passage.kind
                    == PassageKind::Reference(crate::citation::RefNumber(number))
        };
        let entry = match ranked.iter().position(is_entry) {
            Some(index) => ranked.remove(index),
            None => match fetch_reference(searcher, fields, cache, &article, number) {
                Some((address, analysed)) => Ranked {
                    analysed,
                    address,
                    bm25: 0.0,
                    // What answers is the body passage that cites it.
                    features: body_features,
                    token_match: None,
                    score: 0.0,
                    best_sentences: vec![0],
                },
                None => continue,
            },
        };
        let own: f32 = content
            .iter()
            .map(|c| c.idf * passage_match(c, &entry.analysed))
            .sum::<f32>()
            / total_weight;
        followed.push((by_best_sentence.contains(&number), own, position, entry));
    }
    followed.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    let top_score = ranked.first().map_or(0.0, |r| r.score);
    let count = followed.len();
    for (place, (_, _, _, mut entry)) in followed.into_iter().enumerate().rev() {
        // Scores stay in rank order: just above the rest, in the order chosen above.
        entry.score = top_score.max(entry.score) + (count - place) as f32 * 1e-3;
        ranked.insert(0, entry);
    }
}

fn fetch_reference(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    article: &str,
    number: u32,
) -> Option<(DocAddress, Arc<AnalysedPassage>)> {
    let id = format!("{article}#ref{number}");
    let query = TermQuery::new(
        Term::from_field_text(fields.id, &id),
        IndexRecordOption::Basic,
    );
    let top = searcher.search(&query, &TopDocs::with_limit(1)).ok()?;
    let (_, address) = top.first()?;
    Some((*address, cache.get(searcher, fields, *address)?))
}

/// "reference 15": that entry first (of the best-ranked article, or the first article).
/// Returns whether the article has such a reference.
fn promote_reference(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    ranked: &mut Vec<Ranked>,
    number: u32,
) -> bool {
    let article = ranked
        .first()
        .map(|r| r.analysed.passage.article.clone())
        .or_else(|| first_article(searcher, fields));
    let Some(article) = article else {
        return false;
    };
    let Some((address, analysed)) = fetch_reference(searcher, fields, cache, &article, number)
    else {
        return false;
    };
    ranked.retain(|r| r.analysed.passage.id != analysed.passage.id);
    let score = ranked.first().map_or(0.0, |r| r.score) + 1.0;
    ranked.insert(
        0,
        Ranked {
            analysed,
            address,
            bm25: 0.0,
            features: CandidateFeatures {
                coverage: 1.0,
                ..CandidateFeatures::default()
            },
            token_match: None,
            score,
            best_sentences: vec![0],
        },
    );
    true
}

fn first_article(searcher: &tantivy::Searcher, fields: &Fields) -> Option<String> {
    let query = TermQuery::new(
        Term::from_field_text(fields.kind, "article"),
        IndexRecordOption::Basic,
    );
    let top = searcher.search(&query, &TopDocs::with_limit(1)).ok()?;
    let (_, address) = top.first()?;
    let document: TantivyDocument = searcher.doc(*address).ok()?;
    let id = document.get_first(fields.id)?.as_str()?;
    id.strip_suffix("#article").map(str::to_string)
}

/// The sentence that answers best: the one covering most of the question's weight; a second
/// one when it covers what the first does not.
fn best_sentences(passage: &AnalysedPassage, concepts: &[&WeightedConcept]) -> (Vec<usize>, f32) {
    let count = passage.sentence_stems.len();
    if count == 0 {
        return (Vec::new(), 0.0);
    }
    // What each sentence holds of each concept (weighted), computed once: both picks read it.
    let width = concepts.len();
    let held: Vec<f32> = passage
        .sentence_stems
        .iter()
        .flat_map(|stems| concepts.iter().map(|c| c.idf * concept_match(c, stems)))
        .collect();
    let row = |sentence: usize| &held[sentence * width..(sentence + 1) * width];
    let first =
        (0..count)
            .map(|i| (i, row(i).iter().sum::<f32>()))
            .fold((0, f32::MIN), |best, current| {
                if current.1 > best.1 {
                    current
                } else {
                    best
                }
            });
    if first.1 <= 0.0 {
        return (vec![0], 0.0);
    }
    // The second sentence counts only the concepts the first one lacks.
    let lacking: Vec<bool> = row(first.0).iter().map(|&weight| weight <= 0.0).collect();
    let second = (0..count)
        .filter(|&i| i != first.0)
        .map(|i| {
            let adds: f32 = row(i)
                .iter()
                .zip(&lacking)
                .filter(|(_, &lacks)| lacks)
                .map(|(weight, _)| weight)
                .sum();
            (i, adds)
        })
        .fold(
            (0, 0.0f32),
            |best, current| if current.1 > best.1 { current } else { best },
        );
    if second.1 > 0.0 && second.1 >= first.1 * 0.5 {
        return (vec![first.0, second.0], first.1);
    }
    (vec![first.0], first.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(ranker_answers: bool, best: f32) -> Decision {
        Decision::Reader {
            ranker_answers,
            best,
            decision: ReaderDecision {
                veto_below: -3.0,
                unsure_below: -2.0,
            },
        }
    }

    #[test]
    fn the_reader_only_adds_refusals_to_the_rankers() {
        // The ranker refuses (an off-topic question): the reader cannot make it answer.
        assert!(!reader(false, 9.0).answers());
        // The ranker answers: the reader vetoes below its threshold…
        assert!(!reader(true, -3.5).answers());
        // …is unsure between the veto and `unsure_below`…
        assert!(reader(true, -2.5).answers());
        assert!(reader(true, -2.5).unsure());
        // …and sure above it.
        assert!(reader(true, 1.0).answers());
        assert!(!reader(true, 1.0).unsure());
        // Nothing read: refused.
        assert!(!reader(true, f32::NEG_INFINITY).answers());
        assert!(!Decision::Ranker { answers: true }.unsure());
    }
}
