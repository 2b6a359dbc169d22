//! The learned part of answering: how candidate passages are ordered, whether citebot answers
//! at all, and when a second passage is shown beside the first.
//!
//! Nothing here is set by hand. `scripts/train.py` fits the weights on the tuning part of the
//! shared evaluation sets (`eval/split.toml`) from the features below, which mean the same on
//! any article, and writes `data/ranker.json` with its training report beside it
//! (`data/ranker-report.md`). That file is compiled into the binary as the default, so a fresh
//! clone ranks with it; `ranker_file` in config.toml loads another one at start.
//!
//! Two models are shipped: one for an index with sentence embeddings (the meaning step,
//! the `citebot-meaning` crate) and one over words only, used when the embedding model is not installed.
//! The words-only model is trained on the same questions with the meaning features absent, so
//! the fallback is a measured, documented quality (docs/quality.md), not a silent drop.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// What the ranker knows of one candidate passage for one question. Every value is a share,
/// a rank transform or a flag, so it means the same on an article of any size or subject.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CandidateFeatures {
    /// BM25 over text, headings and title, relative to the best candidate's (0 when the
    /// candidate came from the meaning step only).
    pub bm25: f32,
    /// 1 / (1 + rank) in BM25's order; 0 when BM25 did not fetch it.
    pub bm25_rank: f32,
    /// Share of the question's informative words (each weighted by rarity) the passage holds,
    /// in its text or (for less) only in its headings.
    pub coverage: f32,
    /// The same, counting the text only.
    pub text_coverage: f32,
    /// The share held only by the section headings and the title.
    pub heading_coverage: f32,
    /// The best single sentence's coverage.
    pub sentence_coverage: f32,
    /// Share of the question's adjacent word pairs that are adjacent in the passage too.
    pub bigrams: f32,
    /// The passage is in the lead (the article's own summary).
    pub lead: f32,
    /// The question names only the article's subject, and this is the lead.
    pub subject_lead: f32,
    /// A References-list entry, for a question that is not about the cited works.
    pub reference_unwanted: f32,
    /// A References-list entry, for a question about the cited works.
    pub reference_wanted: f32,
    /// A list introduction whose list the plain-text copy lost ("…such as: [3]").
    pub lost_list_intro: f32,
    /// ln(1 + words) / 6: long passages hold more words by chance.
    pub length: f32,
    /// Cosine similarity of the question's and the passage's sentence embeddings.
    pub meaning: f32,
    /// `meaning` minus the best candidate's.
    pub meaning_gap: f32,
    /// 1 / (1 + rank) by meaning among all passages of the corpus.
    pub meaning_rank: f32,
}

/// How the question's word pieces match the passage's, in context: for each piece of the
/// question the cosine of its last-layer vector with the closest piece of the passage
/// ([`crate::meaning::TokenVectors`]). Finer than the sentence embeddings' one cosine: a
/// passage that holds each thing asked, in other words, scores high, where a long passage on
/// the same subject blurs. Zero without the meaning step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenMatch {
    /// The best cosines averaged over the question's pieces, rare pieces weighing more.
    pub recall: f32,
    /// The question piece matched worst.
    pub weakest: f32,
    /// The two matched worst, averaged (the one piece when there is one).
    pub weakest_two: f32,
    /// The other way round: each passage piece's best cosine with the question, averaged
    /// with the passage pieces' rarity.
    pub precision: f32,
}

impl TokenMatch {
    /// Names in the order of [`TokenMatch::values`].
    pub const NAMES: [&'static str; 4] = ["recall", "weakest", "weakest_two", "precision"];

    pub fn values(&self) -> [f32; 4] {
        [self.recall, self.weakest, self.weakest_two, self.precision]
    }
}

/// What the decision to answer sees: the best candidate after ranking, and the question.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuestionFeatures {
    /// The ranker's score of the best candidate.
    pub top_score: f32,
    /// Its lead over the second candidate.
    pub margin: f32,
    pub top_coverage: f32,
    pub top_text_coverage: f32,
    pub top_sentence_coverage: f32,
    pub top_bigrams: f32,
    /// Share of the question's informative weight in words the corpus never uses.
    pub unknown_share: f32,
    /// The question names a specific thing (a treatment, a dose, a cost…; from the
    /// vocabulary) the corpus never mentions.
    pub missing_specific: f32,
    /// ln(1 + informative words of the question).
    pub words: f32,
    /// The question asks about the cited works.
    pub wants_citation: f32,
    pub top_meaning: f32,
    /// The best meaning similarity of any passage in the corpus.
    pub best_meaning: f32,
    /// ln(1 + the best candidate's raw BM25 score).
    pub top_bm25: f32,
}

impl CandidateFeatures {
    /// Names in the order of [`CandidateFeatures::values`]; the ranker file must list the same.
    pub const NAMES: [&'static str; 16] = [
        "bm25",
        "bm25_rank",
        "coverage",
        "text_coverage",
        "heading_coverage",
        "sentence_coverage",
        "bigrams",
        "lead",
        "subject_lead",
        "reference_unwanted",
        "reference_wanted",
        "lost_list_intro",
        "length",
        "meaning",
        "meaning_gap",
        "meaning_rank",
    ];

    pub fn values(&self) -> [f32; 16] {
        [
            self.bm25,
            self.bm25_rank,
            self.coverage,
            self.text_coverage,
            self.heading_coverage,
            self.sentence_coverage,
            self.bigrams,
            self.lead,
            self.subject_lead,
            self.reference_unwanted,
            self.reference_wanted,
            self.lost_list_intro,
            self.length,
            self.meaning,
            self.meaning_gap,
            self.meaning_rank,
        ]
    }
}

impl QuestionFeatures {
    /// Names in the order of [`QuestionFeatures::values`].
    pub const NAMES: [&'static str; 13] = [
        "top_score",
        "margin",
        "top_coverage",
        "top_text_coverage",
        "top_sentence_coverage",
        "top_bigrams",
        "unknown_share",
        "missing_specific",
        "words",
        "wants_citation",
        "top_meaning",
        "best_meaning",
        "top_bm25",
    ];

    pub fn values(&self) -> [f32; 13] {
        [
            self.top_score,
            self.margin,
            self.top_coverage,
            self.top_text_coverage,
            self.top_sentence_coverage,
            self.top_bigrams,
            self.unknown_share,
            self.missing_specific,
            self.words,
            self.wants_citation,
            self.top_meaning,
            self.best_meaning,
            self.top_bm25,
        ]
    }
}

/// A linear score over features: weights and a bias.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Linear {
    weights: Vec<f32>,
    bias: f32,
}

impl Linear {
    fn apply(&self, values: &[f32]) -> f32 {
        // A fixed order of additions: the same score, to the bit, in every process.
        self.weights
            .iter()
            .zip(values)
            .fold(self.bias, |sum, (weight, value)| sum + weight * value)
    }

    fn check(&self, expected: usize, what: &str) -> std::result::Result<(), String> {
        if self.weights.len() != expected {
            return Err(format!(
                "{what} has {} weights for {expected} features",
                self.weights.len()
            ));
        }
        if !self.bias.is_finite() || self.weights.iter().any(|w| !w.is_finite()) {
            return Err(format!("{what} has a weight that is not a finite number"));
        }
        Ok(())
    }
}

/// One trained model: ranking, the answer/abstain decision, the final ordering, and the
/// margin under which the second passage is shown too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    rank: Linear,
    /// The order shown, over [`CandidateFeatures`] then [`TokenMatch`], once the decision
    /// (which sees `rank`'s order) has chosen to answer. Kept apart from `rank` so the
    /// decision sees the ranking it was trained on (docs/quality.md has what mixing them
    /// cost). `None` in the words-only model, which has no token vectors.
    order: Option<Linear>,
    /// Logistic regression over [`QuestionFeatures`]: the probability that the best passage
    /// answers.
    answer: Linear,
    /// Answer when the probability is at least this.
    answer_threshold: f32,
    /// Show the second passage too when its score is within this of the first's.
    show_margin: f32,
}

impl Model {
    /// The candidate's score; higher ranks first.
    pub fn score(&self, features: &CandidateFeatures) -> f32 {
        self.rank.apply(&features.values())
    }

    /// The candidate's score in the order shown, when the model has one (else `None`, and
    /// [`Model::score`]'s order stands).
    pub fn order_score(
        &self,
        features: &CandidateFeatures,
        token_match: &TokenMatch,
    ) -> Option<f32> {
        let order = self.order.as_ref()?;
        let mut values = [0.0f32; CandidateFeatures::NAMES.len() + TokenMatch::NAMES.len()];
        values[..CandidateFeatures::NAMES.len()].copy_from_slice(&features.values());
        values[CandidateFeatures::NAMES.len()..].copy_from_slice(&token_match.values());
        Some(order.apply(&values))
    }

    /// Whether the model orders by token matching too.
    pub fn orders_by_tokens(&self) -> bool {
        self.order.is_some()
    }

    /// The probability that the best passage answers the question.
    pub fn answer_probability(&self, features: &QuestionFeatures) -> f32 {
        let logit = self.answer.apply(&features.values());
        1.0 / (1.0 + (-logit).exp())
    }

    /// [`Model::answer_probability`] as a logit, less the threshold's: positive when this
    /// decision answers. What `citebot train-data` gives scripts/train_reader.py to calibrate the
    /// reader's veto against.
    pub fn answer_logit(&self, features: &QuestionFeatures) -> f32 {
        let threshold = self.answer_threshold.clamp(1e-6, 1.0 - 1e-6);
        self.answer.apply(&features.values()) - (threshold / (1.0 - threshold)).ln()
    }

    /// Whether the article answers.
    pub fn answers(&self, features: &QuestionFeatures) -> bool {
        self.answer_probability(features) >= self.answer_threshold
    }

    /// The score margin under which a second passage answers about as well as the first.
    pub fn show_margin(&self) -> f32 {
        self.show_margin
    }
}

/// The ranker file: both models, and the feature names they were trained on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RankerFile {
    format: u32,
    candidate_features: Vec<String>,
    question_features: Vec<String>,
    token_match_features: Vec<String>,
    /// With sentence embeddings.
    meaning: Model,
    /// Words only: the meaning features are zero.
    words: Model,
    /// What it was trained on, for people (the report has the numbers).
    #[allow(dead_code)]
    trained_on: String,
}

/// 2: the order shown (`order`) over the candidate features and token matching.
const FORMAT: u32 = 2;

/// The shipped ranker, trained by scripts/train.py.
const BUILTIN: &str = include_str!("../../../data/ranker.json");

/// Both trained models.
#[derive(Debug, Clone)]
pub struct Ranker {
    meaning: Model,
    words: Model,
}

impl Ranker {
    /// The ranker shipped in `data/ranker.json`.
    pub fn builtin() -> Ranker {
        // The shipped file is checked by a unit test, so this never fails in a release.
        Ranker::parse(BUILTIN).unwrap_or_else(|message| {
            panic!("data/ranker.json compiled into citebot is invalid: {message}")
        })
    }

    /// Reads a ranker file written by `scripts/train.py`.
    pub fn load(path: &Path) -> Result<Ranker> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ranker::parse(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message: format!("{message}; retrain it with scripts/train.py"),
        })
    }

    fn parse(text: &str) -> std::result::Result<Ranker, String> {
        let file: RankerFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.format != FORMAT {
            return Err(format!(
                "ranker format {} (this citebot reads {FORMAT})",
                file.format
            ));
        }
        if file.candidate_features != CandidateFeatures::NAMES {
            return Err(format!(
                "trained on candidate features {:?}, this citebot computes {:?}",
                file.candidate_features,
                CandidateFeatures::NAMES
            ));
        }
        if file.question_features != QuestionFeatures::NAMES {
            return Err(format!(
                "trained on question features {:?}, this citebot computes {:?}",
                file.question_features,
                QuestionFeatures::NAMES
            ));
        }
        if file.token_match_features != TokenMatch::NAMES {
            return Err(format!(
                "trained on token match features {:?}, this citebot computes {:?}",
                file.token_match_features,
                TokenMatch::NAMES
            ));
        }
        for (model, name) in [(&file.meaning, "meaning"), (&file.words, "words")] {
            model
                .rank
                .check(CandidateFeatures::NAMES.len(), &format!("{name}.rank"))?;
            model
                .answer
                .check(QuestionFeatures::NAMES.len(), &format!("{name}.answer"))?;
            if let Some(order) = &model.order {
                order.check(
                    CandidateFeatures::NAMES.len() + TokenMatch::NAMES.len(),
                    &format!("{name}.order"),
                )?;
            }
        }
        if file.words.order.is_some() {
            return Err("the words-only model has an order over token matching, which needs the meaning step".into());
        }
        Ok(Ranker {
            meaning: file.meaning,
            words: file.words,
        })
    }

    /// The model for an index with sentence embeddings, or for words only.
    pub fn model(&self, with_meaning: bool) -> &Model {
        if with_meaning {
            &self.meaning
        } else {
            &self.words
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_logit_is_positive_exactly_when_the_decision_answers() {
        let ranker = Ranker::builtin();
        for model in [ranker.model(true), ranker.model(false)] {
            for step in 0..200 {
                let x = step as f32 / 20.0 - 5.0;
                let features = QuestionFeatures {
                    top_score: x,
                    margin: x / 3.0,
                    top_coverage: (x + 5.0) / 10.0,
                    top_meaning: (x + 5.0) / 12.0,
                    ..QuestionFeatures::default()
                };
                let logit = model.answer_logit(&features);
                if logit.abs() > 1e-4 {
                    assert_eq!(
                        model.answers(&features),
                        logit > 0.0,
                        "at {x}: logit {logit}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_shipped_ranker_reads() {
        Ranker::parse(BUILTIN).expect("data/ranker.json is valid");
    }

    #[test]
    fn a_file_for_other_features_is_refused_by_name() {
        let text = BUILTIN.replacen("\"bm25_rank\"", "\"bm25_position\"", 1);
        let message = Ranker::parse(&text).expect_err("other features");
        assert!(message.contains("bm25_position"), "{message}");
    }

    #[test]
    fn the_order_shown_is_a_weighted_sum_over_candidate_and_token_match_features() {
        let mut weights = vec![0.0f32; 20];
        weights[0] = 1.0; // bm25
        weights[16] = 2.0; // recall
        weights[19] = -1.0; // precision
        let model: Model = serde_json::from_value(serde_json::json!({
            "rank": {"weights": vec![0.0; 16], "bias": 0.0},
            "order": {"weights": weights, "bias": 0.25},
            "answer": {"weights": vec![0.0; 13], "bias": 0.0},
            "answer_threshold": 0.5, "show_margin": 0.0,
        }))
        .expect("model");
        let features = CandidateFeatures {
            bm25: 0.5,
            ..CandidateFeatures::default()
        };
        let matched = TokenMatch {
            recall: 0.75,
            precision: 0.5,
            ..TokenMatch::default()
        };
        assert!(model.orders_by_tokens());
        assert_eq!(model.order_score(&features, &matched), Some(1.75));
        let builtin = Ranker::builtin();
        assert!(!builtin.model(false).orders_by_tokens());
        assert_eq!(builtin.model(false).order_score(&features, &matched), None);
    }

    #[test]
    fn an_order_of_the_wrong_width_or_in_the_words_model_is_refused() {
        let mut file: serde_json::Value = serde_json::from_str(BUILTIN).expect("json");
        file["meaning"]["order"] = serde_json::json!({"weights": vec![0.0; 16], "bias": 0.0});
        let message = Ranker::parse(&file.to_string()).expect_err("too few weights");
        assert!(
            message.contains("meaning.order has 16 weights for 20"),
            "{message}"
        );
        file["meaning"]["order"] = serde_json::Value::Null;
        file["words"]["order"] = serde_json::json!({"weights": vec![0.0; 20], "bias": 0.0});
        let message = Ranker::parse(&file.to_string()).expect_err("words model");
        assert!(message.contains("needs the meaning step"), "{message}");
    }

    #[test]
    fn scores_are_the_weighted_sum() {
        let model: Model = serde_json::from_str(
            r#"{"rank": {"weights": [2.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bias": 0.5},
                "answer": {"weights": [1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bias": -1.0},
                "answer_threshold": 0.5, "show_margin": 0.1}"#,
        )
        .expect("model");
        let features = CandidateFeatures {
            bm25: 1.0,
            bm25_rank: 0.5,
            ..CandidateFeatures::default()
        };
        assert_eq!(model.score(&features), 3.0);
        let weak = QuestionFeatures {
            top_score: 0.5,
            ..QuestionFeatures::default()
        };
        let strong = QuestionFeatures {
            top_score: 2.0,
            ..QuestionFeatures::default()
        };
        assert!(!model.answers(&weak));
        assert!(model.answers(&strong));
    }
}
