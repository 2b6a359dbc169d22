//! The sentence of a passage that answers best, and a second one when it covers what the first
//! lacks.

use super::analysed::AnalysedPassage;
use super::concepts::{concept_match, WeightedConcept};

/// The sentence that answers best: the one covering most of the question's weight; a second
/// one when it covers what the first does not.
pub(super) fn best_sentences(
    passage: &AnalysedPassage,
    concepts: &[&WeightedConcept],
) -> (Vec<usize>, f32) {
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
