//! The JSON contract of `citebot search --json` and `citebot refs --json`. Field names and
//! meanings are relied upon by other tools: add fields, never rename or repurpose one.

use serde::Serialize;

use citebot_core::answer::{Answer, Verdict};
use citebot_core::citation::{Citation, Link};

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
