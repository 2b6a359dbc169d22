//! The JSON contract of `citebot search --json`, `citebot refs --json`, `citebot ask --json`
//! and `GET /v1/ask` (the last two are the same [`AskResponse`]). Field names and meanings are
//! relied upon by other tools: add fields, never rename or repurpose one.

use serde::Serialize;

use citebot_core::answer::{Answer, Verdict};
use citebot_core::citation::{Citation, Link};
use citebot_core::engine::Engine;

use crate::notices::{EMERGENCY_NOTICE_PLAIN, NOT_MEDICAL_ADVICE};

/// One line of `search --json` output.
#[derive(Debug, Serialize)]
pub struct SearchResponse<'a> {
    pub query: &'a str,
    pub answered: bool,
    pub took_us: u64,
    pub passages: Vec<PassageJson<'a>>,
    /// Why there is no answer (`no_searchable_words`, `no_match`, `weak_evidence`); absent
    /// when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Answered, but the passages are only the closest the article has: the reader is unsure
    /// they say exactly what was asked. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub closest_only: bool,
    /// A problem with this input line (e.g. invalid UTF-8); absent normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// A ranked passage.
#[derive(Debug, Serialize)]
pub struct PassageJson<'a> {
    pub id: &'a str,
    /// The article's slug.
    pub article: &'a str,
    /// The nearest heading ("Lead" for the lead, "References" for a reference entry).
    pub section: &'a str,
    pub section_path: &'a [String],
    /// The passage text exactly as in the article, markers included.
    pub text: &'a str,
    /// Reference numbers cited anywhere in the passage (a reference entry: its own number).
    pub refs: Vec<u32>,
    pub score: f32,
    /// Share of the question's informative words the passage holds (0 to 1).
    pub coverage: f32,
    /// "body", "reference" or "note".
    pub kind: &'static str,
    /// The sentence that answers best, exactly as in the text.
    pub best_sentence: Option<&'a str>,
    /// Reference numbers of the best sentence(s).
    pub best_refs: Vec<u32>,
}

impl<'a> SearchResponse<'a> {
    pub fn from_answer(answer: &'a Answer) -> SearchResponse<'a> {
        let reason = match &answer.verdict {
            Verdict::Answered => None,
            Verdict::Abstained(reason) => serde_json::to_value(reason)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string)),
        };
        SearchResponse {
            query: &answer.question,
            answered: answer.answered(),
            took_us: answer.took.as_micros() as u64,
            passages: answer
                .hits
                .iter()
                .map(|hit| PassageJson {
                    id: &hit.passage.id,
                    article: &hit.passage.article,
                    section: hit.passage.section_path.nearest(),
                    section_path: &hit.passage.section_path.0,
                    text: &hit.passage.text,
                    refs: hit.passage.refs().iter().map(|n| n.0).collect(),
                    score: hit.score,
                    coverage: hit.coverage,
                    kind: match hit.passage.kind {
                        citebot_core::passage::PassageKind::Body => "body",
                        citebot_core::passage::PassageKind::Reference(_) => "reference",
                        citebot_core::passage::PassageKind::Note => "note",
                    },
                    best_sentence: hit.best_sentence(),
                    best_refs: hit.best_refs().iter().map(|n| n.0).collect(),
                })
                .collect(),
            reason,
            closest_only: answer.closest_only,
            error: None,
        }
    }

    /// The line for an input that could not be read as a query.
    pub fn error(query: &'a str, message: &'a str) -> SearchResponse<'a> {
        SearchResponse {
            query,
            answered: false,
            took_us: 0,
            passages: Vec::new(),
            reason: None,
            closest_only: false,
            error: Some(message),
        }
    }
}

/// A reference as `refs --json` prints it.
#[derive(Debug, Serialize)]
pub struct CitationJson {
    pub number: u32,
    pub authors: Vec<String>,
    pub year: Option<u16>,
    pub date: Option<String>,
    pub title: Option<String>,
    pub container: Option<String>,
    pub volume: Option<String>,
    pub issue: Option<String>,
    pub pages: Option<String>,
    pub publisher: Option<String>,
    pub doi: Option<String>,
    pub pmid: Option<String>,
    pub pmc: Option<String>,
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub hdl: Option<String>,
    pub url: Option<String>,
    pub retrieved: Option<String>,
    pub short: String,
    pub links: Vec<Link>,
    pub raw: String,
}

impl From<&Citation> for CitationJson {
    fn from(citation: &Citation) -> Self {
        CitationJson {
            number: citation.number.0,
            authors: citation.authors.clone(),
            year: citation.year,
            date: citation.date.clone(),
            title: citation.title.clone(),
            container: citation.container.clone(),
            volume: citation.volume.clone(),
            issue: citation.issue.clone(),
            pages: citation.pages.clone(),
            publisher: citation.publisher.clone(),
            doi: citation.doi.clone(),
            pmid: citation.pmid.clone(),
            pmc: citation.pmc.clone(),
            isbn: citation.isbn.clone(),
            issn: citation.issn.clone(),
            hdl: citation.hdl.clone(),
            url: citation.url.clone(),
            retrieved: citation.retrieved.clone(),
            short: citation.short(),
            links: citation.links(),
            raw: citation.raw.clone(),
        }
    }
}

/// The answer of `GET /v1/ask`.
#[derive(Debug, Serialize)]
pub struct AskResponse<'a> {
    pub question: &'a str,
    pub answered: bool,
    /// Why there is no answer (`no_match`, `weak_evidence`, `not_in_article`, …); absent when
    /// answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The same, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<&'static str>,
    /// What the question asks about that the articles never mention.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub not_in_article: &'a [String],
    /// Answered, but the passages are only the closest the articles have (the reader is
    /// unsure they say exactly what was asked); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closest_only: Option<&'static str>,
    /// The passages worth showing, best first.
    pub passages: Vec<AskPassage<'a>>,
    /// The emergency notice, first, when the question reads as an emergency (the same phrases
    /// and wording as Discord's, without its markdown); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency: Option<&'static str>,
    /// Where the text comes from and its licence, one line per article quoted.
    pub attribution: Vec<String>,
    pub notice: &'static str,
    pub took_us: u64,
}

#[derive(Debug, Serialize)]
pub struct AskPassage<'a> {
    pub id: &'a str,
    pub article: &'a str,
    pub article_title: &'a str,
    pub section_path: &'a [String],
    pub text: &'a str,
    /// The sentence that answers, exactly as in the text.
    pub best_sentence: Option<&'a str>,
    /// The sources of that sentence (of the passage, for a References entry).
    pub sources: Vec<Source>,
}

/// A short citation: "[15] Grenader & Shavit 2011" and its links.
#[derive(Debug, Serialize)]
pub struct Source {
    pub number: u32,
    pub short: String,
    pub links: Vec<Link>,
}

/// The answer of `GET /v1/ask` and `citebot ask --json`; `emergency` is whether the question
/// reads as an emergency ([`crate::notices::EmergencyDetector`]).
pub fn ask_response<'a>(engine: &Engine, answer: &'a Answer, emergency: bool) -> AskResponse<'a> {
    let (reason, explanation) = match &answer.verdict {
        Verdict::Answered => (None, None),
        Verdict::Abstained(reason) => (
            serde_json::to_value(reason)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string)),
            Some(reason.explain()),
        ),
    };
    let shown = if answer.answered() {
        answer.hits_worth_showing()
    } else {
        &[]
    };
    let mut attribution: Vec<String> = Vec::new();
    let mut articles: Vec<&str> = Vec::new();
    let passages = shown
        .iter()
        .map(|hit| {
            if !articles.contains(&hit.passage.article.as_str()) {
                articles.push(&hit.passage.article);
                if let Some(info) = engine.article_info(&hit.passage.article) {
                    attribution.push(info.attribution());
                }
            }
            AskPassage {
                id: &hit.passage.id,
                article: &hit.passage.article,
                article_title: &hit.passage.article_title,
                section_path: &hit.passage.section_path.0,
                text: &hit.passage.text,
                best_sentence: hit.best_sentence(),
                sources: hit
                    .best_refs()
                    .into_iter()
                    .filter_map(|number| engine.citation_of(&hit.passage.article, number))
                    .map(|citation| {
                        let json = CitationJson::from(&citation);
                        Source {
                            number: json.number,
                            short: json.short,
                            links: json.links,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    AskResponse {
        question: &answer.question,
        answered: answer.answered(),
        reason,
        explanation,
        not_in_article: &answer.not_in_article,
        closest_only: answer
            .closest_only
            .then_some(citebot_core::answer::CLOSEST_ONLY_NOTICE),
        passages,
        emergency: emergency.then_some(EMERGENCY_NOTICE_PLAIN),
        attribution,
        notice: NOT_MEDICAL_ADVICE,
        took_us: answer.took.as_micros() as u64,
    }
}
