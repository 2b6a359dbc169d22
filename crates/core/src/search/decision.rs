//! The decision to answer or abstain ([`Decision`]): the learned ranker's (see
//! [`crate::ranker`]), joined with the reader's scores of the first passages shown when the
//! reader is on.

use super::ranking::Ranked;
use super::Context;
use crate::meaning::{MeaningModel, Pair, Reader, ReaderDecision};
use crate::query;
use crate::ranker::QuestionFeatures;

/// The reader and the model it runs on.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub model: &'a MeaningModel,
    pub reader: &'a Reader,
}

impl Reading<'_> {
    /// The reader's score of each of the first passages shown (at most `reader.reads`), best
    /// first: how far "this passage answers" is above "none answers", in logits.
    pub(super) fn scores(&self, question: &str, ranked: &[Ranked]) -> Vec<f32> {
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

pub(super) fn decide(
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
