//! The question's concepts weighed against the index (rarity, whether it knows them, a spelling
//! correction when nothing explains a word) and where a concept matches a passage.

use crate::config::SearchSettings;
use crate::index::Fields;
use crate::query::{self, Concept, Origin, Variant};

use super::analysed::{AnalysedPassage, StemId, StemSet};
use super::cache::SearchCache;

/// A concept with what the index knows of it.
pub(super) struct WeightedConcept {
    pub(super) concept: Concept,
    /// Inverse document frequency of the concept's best-known variant; for a word the index
    /// does not know at all, the weight of a rare word (it is what the question is about).
    pub(super) idf: f32,
    /// Whether any variant occurs in the index.
    pub(super) known: bool,
    /// The variants as stem ids, with what a match of each is worth.
    pub(super) matches: Vec<(Box<[StemId]>, f32)>,
}

pub(super) fn weigh_concepts(
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

/// What a match of a variant is worth: 1 for the asked word, less for an expansion.
fn match_value(origin: Origin) -> f32 {
    match origin {
        Origin::Asked => 1.0,
        Origin::Synonym => 0.8,
        Origin::Correction => 0.9,
    }
}

/// How well a set of stems holds a concept: its best variant whose stems are all there.
pub(super) fn concept_match(concept: &WeightedConcept, stems: &StemSet) -> f32 {
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
pub(super) fn passage_match(concept: &WeightedConcept, passage: &AnalysedPassage) -> f32 {
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
