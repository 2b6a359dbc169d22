//! The JSON API: `GET /v1/search` (exactly the object `citebot search --json` prints),
//! `GET /v1/ask` (the answer as a person gets it: the passages worth showing, each with its
//! best sentence and short citations) and `GET /v1/refs/N`. Bad parameters get 400 with a
//! JSON error saying what was wrong; an unknown reference 404.

use std::collections::BTreeMap;

use citebot_core::citation::RefNumber;
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
