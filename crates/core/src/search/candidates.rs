//! Gathering a question's candidates ([`Candidates`]): the BM25 query, the passages nearest in
//! meaning, questions that name an article, and the question's features the decision sees.

use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query};

use super::analysed::{stem_set, StemId, StemSet};
use super::cache::{read, write, ArticleNames, SearchCache, SharedTermQuery};
use super::citations::promote_reference;
use super::concepts::{weigh_concepts, WeightedConcept};
use super::ranking::{rank, sort_ranked, Ranked};
use super::Context;
use crate::config::SearchSettings;
use crate::embeddings::QuestionMeaning;
use crate::index::{Fields, OpenIndex};
use crate::passage::Passage;
use crate::query::{self, Origin};
use crate::ranker::{CandidateFeatures, QuestionFeatures, TokenMatch};

/// Every candidate of a question with its features, ranked, and what the decision to answer
/// sees. `None` when the question has no searchable words.
pub struct Candidates {
    pub(super) ranked: Vec<Ranked>,
    pub features: QuestionFeatures,
    /// Specific terms of the question (treatments, doses…) the corpus never mentions.
    pub not_in_article: Vec<String>,
    pub(super) reference_number: Option<u32>,
    /// The question has a word beyond those asking for a citation, or names a reference the
    /// article has.
    pub(super) has_content: bool,
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
