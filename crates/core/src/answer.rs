//! The answer to a question: ranked passages with the sentences that answer, or an honest
//! "the article does not say". Surfaces (terminal, JSON, Discord) only format an [`Answer`].

use std::time::Duration;

use serde::Serialize;

use crate::citation::RefNumber;
use crate::passage::Passage;

/// One retrieved passage.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Shared with the search cache: an answer never copies passage text.
    #[serde(serialize_with = "serialize_shared")]
    pub passage: std::sync::Arc<Passage>,
    /// Ranking score (higher is better); comparable only within one answer.
    pub score: f32,
    /// Share of the question's informative words (weighted by rarity) the passage holds,
    /// from 0 to 1: the evidence behind answering or abstaining.
    pub coverage: f32,
    /// Indexes into `passage.sentences` of the sentence(s) that answer best, best first.
    pub best_sentences: Vec<usize>,
    /// The passage answers about as well as the best one (its score is within the ranker's
    /// learned margin of the best's), so a person should see it too.
    pub answers_too: bool,
}

impl Hit {
    /// Reference numbers of the best sentence(s), in order, without repeats; the passage's own
    /// number for a References-list entry.
    pub fn best_refs(&self) -> Vec<RefNumber> {
        if !matches!(self.passage.kind, crate::passage::PassageKind::Body) {
            return self.passage.refs();
        }
        let mut refs: Vec<RefNumber> = Vec::new();
        for &index in &self.best_sentences {
            for number in self.passage.sentences[index].refs() {
                if !refs.contains(&number) {
                    refs.push(number);
                }
            }
        }
        refs
    }

    /// The text of the best sentence, if the passage has one that answers.
    pub fn best_sentence(&self) -> Option<&str> {
        self.best_sentences
            .first()
            .map(|&index| self.passage.sentence_text(index))
    }
}

/// Why citebot gives no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbstainReason {
    /// The question has no searchable words (empty, punctuation, emoji only).
    NoSearchableWords,
    /// No passage shares a word with the question.
    NoMatch,
    /// Passages match, but too little of the question to be an answer.
    WeakEvidence,
    /// Passages are about what the question asks, but the reader found none that says it
    /// (the words and meaning alone would have answered).
    NotStated,
    /// The question asks about something (a treatment, a dose, a cost…) that the corpus never
    /// mentions; [`Answer::not_in_article`] names it.
    NotInArticle,
    /// The index could not be read while answering (a damaged file): `citebot index` rebuilds it.
    IndexDamaged,
}

impl AbstainReason {
    /// A sentence for a person.
    pub fn explain(self) -> &'static str {
        match self {
            AbstainReason::NoSearchableWords => "the question has no words to search for",
            AbstainReason::NoMatch => {
                "no passage of the article mentions what the question asks about"
            }
            AbstainReason::WeakEvidence => {
                "the closest passages match only a small part of the question"
            }
            AbstainReason::NotStated => {
                "the closest passages are about this subject but do not say what the question asks"
            }
            AbstainReason::IndexDamaged => {
                "the index is damaged and could not be read; run `citebot index` to rebuild it"
            }
            AbstainReason::NotInArticle => {
                "the question asks about something the article never mentions"
            }
        }
    }
}

/// Whether the article answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
pub enum Verdict {
    Answered,
    Abstained(AbstainReason),
}

/// citebot's answer to one question.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The question as asked.
    pub question: String,
    pub verdict: Verdict,
    /// Ranked passages, best first. Empty when the verdict is [`Verdict::Abstained`]: an
    /// abstention never shows unrelated text as if it answered.
    pub hits: Vec<Hit>,
    /// Words of the question that name a specific thing (a treatment, a dose, a cost…) the
    /// corpus never mentions, as the user wrote them.
    pub not_in_article: Vec<String>,
    /// Answered, but the reader is unsure that the passages say exactly what was asked: they
    /// are the closest the article has, and every surface says so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub closest_only: bool,
    /// Time spent answering, analysis to abstention decision.
    #[serde(serialize_with = "serialize_micros")]
    pub took: Duration,
}

/// What every surface says above an answer given with [`Answer::closest_only`].
pub const CLOSEST_ONLY_NOTICE: &str =
    "The article may not answer this exactly; the closest passage is below.";

impl Answer {
    pub fn answered(&self) -> bool {
        matches!(self.verdict, Verdict::Answered)
    }

    /// The hits a person should see: the best one, and the ones after it that answer about as
    /// well (within the ranker's learned margin, [`Hit::answers_too`]). The rest stay in
    /// `hits` for ranking tools (JSON, eval) but would only be noise next to an answer.
    pub fn hits_worth_showing(&self) -> &[Hit] {
        if self.hits.is_empty() {
            return &[];
        }
        let shown = 1 + self.hits[1..]
            .iter()
            .take_while(|hit| hit.answers_too)
            .count();
        &self.hits[..shown]
    }
}

fn serialize_shared<S: serde::Serializer, T: Serialize>(
    shared: &std::sync::Arc<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    T::serialize(shared, serializer)
}

fn serialize_micros<S: serde::Serializer>(
    took: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(took.as_micros() as u64)
}
