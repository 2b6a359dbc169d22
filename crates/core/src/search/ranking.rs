//! Re-ranking the candidates: each one's features (coverage, best sentence, word pairs, lead,
//! reference kind, meaning), scored by the learned ranker, best first.

use std::sync::Arc;

use tantivy::DocAddress;

use super::analysed::{bigram_id, AnalysedPassage, StemId};
use super::best_sentence::best_sentences;
use super::cache::SearchCache;
use super::citations::follow_citations;
use super::concepts::{concept_match, passage_match, WeightedConcept};
use super::Context;
use crate::index::Fields;
use crate::passage::PassageKind;
use crate::query::AnalysedQuestion;
use crate::ranker::{CandidateFeatures, TokenMatch};

/// A candidate after re-ranking.
pub(super) struct Ranked {
    pub(super) analysed: Arc<AnalysedPassage>,
    pub(super) address: DocAddress,
    /// The raw BM25 score (0 for a candidate only the meaning step found).
    pub(super) bm25: f32,
    pub(super) features: CandidateFeatures,
    /// How the question's word pieces match the passage's; `None` without the meaning step.
    pub(super) token_match: Option<TokenMatch>,
    pub(super) score: f32,
    pub(super) best_sentences: Vec<usize>,
}

/// Orders candidates best first: by score, then by their place in the index, so equal scores
/// come out the same way in every process.
pub(super) fn sort_ranked(ranked: &mut [Ranked]) {
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.address.cmp(&b.address))
    });
}

pub(super) fn rank(
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
