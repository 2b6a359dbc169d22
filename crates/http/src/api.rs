//! The JSON API: `GET /v1/search` (exactly the object `citebot search --json` prints),
//! `GET /v1/ask` (the answer as a person gets it: the passages worth showing, each with its
//! best sentence and short citations) and `GET /v1/refs/N`. Bad parameters get 400 with a
//! JSON error saying what was wrong; an unknown reference 404.

use std::collections::BTreeMap;

use serde::Serialize;

use citebot_core::answer::{Answer, Verdict};
use citebot_core::citation::{Link, RefNumber};
use citebot_core::engine::Engine;
use citebot_presentation::json::CitationJson;

/// A parameter problem, answered 400 (or 404 for a reference that does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub status: u16,
    pub message: String,
}

impl ParamError {
    fn bad(message: impl Into<String>) -> ParamError {
        ParamError {
            status: 400,
            message: message.into(),
        }
    }
}

/// The longest question accepted, in bytes, before the engine's own cut to
/// `search.max_question_chars` characters: a URL this long is abuse, not a question.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// `q` and `top` of a search or an ask, checked. Unknown parameters are refused, so a typo
/// (`?query=`) is not silently a question about nothing.
pub fn question_params(
    params: &BTreeMap<String, String>,
    default_top: usize,
    max_top: usize,
) -> Result<(String, usize), ParamError> {
    if let Some(unknown) = params
        .keys()
        .find(|key| !matches!(key.as_str(), "q" | "top"))
    {
        return Err(ParamError::bad(format!(
            "unknown parameter `{unknown}`: the parameters are q (the question) and top (1 to {max_top})"
        )));
    }
    let question = params.get("q").ok_or_else(|| {
        ParamError::bad("the parameter q (the question) is missing: add ?q=your+question")
    })?;
    if question.trim().is_empty() {
        return Err(ParamError::bad(
            "the parameter q is empty: it holds the question",
        ));
    }
    if question.len() > MAX_QUERY_BYTES {
        return Err(ParamError::bad(format!(
            "the parameter q is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
            question.len()
        )));
    }
    let top = match params.get("top") {
        None => default_top,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(top) if (1..=max_top).contains(&top) => top,
            _ => {
                return Err(ParamError::bad(format!(
                    "top = {text:?} must be a whole number from 1 to {max_top}"
                )))
            }
        },
    };
    Ok((question.clone(), top))
}

/// `GET /v1/refs/N?article=…`: the reference as `citebot refs N --json` prints it.
pub fn reference(
    engine: &Engine,
    number: &str,
    params: &BTreeMap<String, String>,
) -> Result<CitationJson, ParamError> {
    if let Some(unknown) = params.keys().find(|key| key.as_str() != "article") {
        return Err(ParamError::bad(format!(
            "unknown parameter `{unknown}`: the only parameter is article (its file name without .txt, or its title)"
        )));
    }
    let number: u32 = number.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
        ParamError::bad(format!(
            "{number:?} is not a reference number: use a whole number from 1, as in [15]"
        ))
    })?;
    let article = params.get("article").map(String::as_str);
    engine
        .citation(article, RefNumber(number))
        .map(|citation| CitationJson::from(&citation))
        .map_err(|error| {
            let status = match error {
                citebot_core::Error::UnknownReference { .. } => 404,
                _ => 400,
            };
            ParamError {
                status,
                message: error.to_string(),
            }
        })
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

pub const NOT_ADVICE: &str = "This is the article's text, not medical advice.";

pub fn ask_response<'a>(engine: &Engine, answer: &'a Answer) -> AskResponse<'a> {
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
        attribution,
        notice: NOT_ADVICE,
        took_us: answer.took.as_micros() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_with_reasons() {
        assert_eq!(
            question_params(&params(&[("q", "diltiazem")]), 10, 100),
            Ok(("diltiazem".to_string(), 10))
        );
        assert_eq!(
            question_params(&params(&[("q", "x"), ("top", "5")]), 10, 100),
            Ok(("x".to_string(), 5))
        );
        for (bad, says) in [
            (params(&[("q", "x"), ("top", "0")]), "from 1 to 100"),
            (params(&[("q", "x"), ("top", "101")]), "from 1 to 100"),
            (params(&[("q", "x"), ("top", "three")]), "from 1 to 100"),
            (params(&[("top", "3")]), "q (the question) is missing"),
            (params(&[("q", "   ")]), "q is empty"),
            (params(&[("query", "x")]), "unknown parameter `query`"),
        ] {
            let error = question_params(&bad, 10, 100).unwrap_err();
            assert_eq!(error.status, 400);
            assert!(error.message.contains(says), "{bad:?}: {}", error.message);
        }
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert!(question_params(&params(&[("q", &long)]), 10, 100).is_err());
    }
}
