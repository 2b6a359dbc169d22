//! Retrieval and ranking: from an analysed question to ranked passages, the sentences that
//! answer, and the decision to answer or abstain.
//!
//! 1. Each meaningful word of the question becomes a concept with variants: the word itself,
//!    its synonyms, and, when the index does not know the word, its closest spelling in the
//!    index's own term dictionary (never outranking exact words).
//! 2. tantivy's BM25 over text, section headings and title fetches candidates; the passages
//!    nearest in meaning join them. A question naming an article keeps that article's only.
//! 3. Each candidate is described by features that mean the same on any article (coverage of
//!    the question's weighted concepts, best sentence, word pairs, lead, reference kind,
//!    meaning) and scored by the learned ranker ([`crate::ranker`], trained by
//!    scripts/train.py).
//! 4. The decision to answer is learned too: a logistic regression over the best candidate and
//!    the question ([`crate::ranker::QuestionFeatures`]) against a trained threshold, joined,
//!    when the reader is on, with its veto ([`Decision`]). Once it answers, the passages are
//!    shown in the order of a second model that adds token matching.
//!
//! One concern a file: `cache.rs` (what a generation lets search remember), `analysed.rs` (a
//! passage's stems), `concepts.rs` (the question's concepts weighed and matched),
//! `spelling.rs`, `candidates.rs` (BM25 and meaning candidates, named articles, the question's
//! features), `ranking.rs`, `citations.rs` (following citations, "reference 15"),
//! `best_sentence.rs` and `decision.rs` (answer or abstain).

mod analysed;
mod best_sentence;
mod cache;
mod candidates;
mod citations;
mod concepts;
mod decision;
mod ranking;
mod spelling;

use std::time::Instant;

use crate::answer::{AbstainReason, Answer, Hit, Verdict};
use crate::config::SearchSettings;
use crate::embeddings::QuestionMeaning;
use crate::index::OpenIndex;
use crate::query::Vocabulary;
use crate::ranker::Ranker;

pub use analysed::AnalysedPassage;
pub use cache::SearchCache;
pub use candidates::{candidates, Candidates};
use decision::decide;
pub use decision::{Decision, Reading};

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

impl Context<'_> {
    fn model(&self) -> &crate::ranker::Model {
        self.ranker.model(self.meaning.is_some())
    }
}
