//! MediaWiki's core REST API (`{origin}/w/rest.php/v1/`), the two calls citebot needs:
//! `page/{title}/bare` (the page's metadata and latest revision) and
//! `revision/{id}/html` (that revision's Parsoid HTML).
//!
//! Blocking reqwest (the same reqwest and rustls the bot builds): `add` and `refresh` are
//! terminal commands that make a handful of requests one after another. Politeness as
//! Wikimedia asks: a User-Agent with a contact, one request at a time with a minimum interval
//! between them, and a 429 or 503 answered by waiting what its Retry-After says (bounded in
//! count and length). Redirects are followed by hand, on the same origin only, so the title
//! that redirected is known and a redirect loop ends.

use std::cell::Cell;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::settings::WikipediaSettings;

/// What went wrong talking to the wiki. Every message says what, where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no article titled {title:?} on {origin}: check the spelling (after the first letter, titles are case-sensitive) or pass the article's URL")]
    NotFound { title: String, origin: String },
    #[error("{title:?} on {origin} is a disambiguation page, not an article: add one of the articles it lists{}", suggest(.suggestions))]
    Disambiguation {
        title: String,
        origin: String,
        suggestions: Vec<String>,
    },
    #[error("cannot reach {origin} ({message}): check the network connection and wikipedia.origin in config.toml, then try again")]
    Network { origin: String, message: String },
    #[error("{url} did not answer within {seconds} s: try again later, or raise wikipedia.timeout_seconds in config.toml")]
    Timeout { url: String, seconds: f64 },
    #[error("{origin} answered 429 Too Many Requests {tries} times: wait {wait_seconds} s and try again")]
    RateLimited {
        origin: String,
        tries: u32,
        wait_seconds: u64,
    },
    #[error("{url} answered HTTP {status}: try again later (if it persists, check wikipedia.origin in config.toml)")]
    Status { url: String, status: u16 },
    #[error("the answer from {url} was cut off ({message}): nothing was written; try again")]
    Truncated { url: String, message: String },
    #[error("{url} did not answer with {expected} ({message}): nothing was written; check that wikipedia.origin is a MediaWiki site, or try again later")]
    Malformed {
        url: String,
        expected: &'static str,
        message: String,
    },
    #[error("{url} redirects too often (or in a loop): add the target article's title directly")]
    TooManyRedirects { url: String },
}

impl FetchError {
    /// Whether asking again later may succeed: the network down, a timeout, rate limiting, a
    /// server error or an answer cut short may pass; a missing page or a wrong origin will not.
    pub fn class(&self) -> citebot_core::error::ErrorClass {
        use citebot_core::error::ErrorClass;
        match self {
            FetchError::Network { .. }
            | FetchError::Timeout { .. }
            | FetchError::RateLimited { .. }
            | FetchError::Truncated { .. } => ErrorClass::Transient,
            FetchError::Status { status, .. } if *status >= 500 || *status == 429 => {
                ErrorClass::Transient
            }
            FetchError::NotFound { .. }
            | FetchError::Disambiguation { .. }
            | FetchError::Status { .. }
            | FetchError::Malformed { .. }
            | FetchError::TooManyRedirects { .. } => ErrorClass::Permanent,
        }
    }
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(
            ", e.g. {}",
            suggestions
                .iter()
                .map(|title| format!("`citebot add {title:?}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// A page's metadata, from `page/{title}/bare`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub title: String,
    /// The title in URLs ("Calcinosis_cutis").
    pub key: String,
    pub page_id: u64,
    pub revision: u64,
    pub timestamp: String,
    pub licence_title: String,
    pub licence_url: String,
    /// The REST route of the page's HTML, as the API gives it.
    pub html_url: String,
    /// The title asked for, when it redirected to this page.
    pub redirected_from: Option<String>,
}

#[derive(Deserialize)]
struct BareJson {
    id: u64,
    key: String,
    title: String,
    latest: LatestJson,
    #[serde(default)]
    license: Option<LicenceJson>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct LatestJson {
    id: u64,
    timestamp: String,
}

#[derive(Deserialize)]
struct LicenceJson {
    #[serde(default)]
    url: String,
    #[serde(default)]
    title: String,
}

/// Characters of a title that stay as they are in a REST path (MediaWiki's own URLs keep
/// these); everything else is percent-encoded, `/` included.
const TITLE_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'\'')
    .remove(b'!')
    .remove(b'*')
    .remove(b':');

/// A title as it goes in a URL path: spaces as underscores, the rest percent-encoded.
pub fn encode_title(title: &str) -> String {
    utf8_percent_encode(&title.trim().replace(' ', "_"), TITLE_SAFE).to_string()
}

/// At most this many redirects per request (a page redirect plus a title normalisation is 2).
const MAX_REDIRECTS: usize = 5;

/// The REST API of one wiki.
pub struct Client {
    http: reqwest::blocking::Client,
    origin: String,
    settings: WikipediaSettings,
    last_request: Cell<Option<Instant>>,
}

impl Client {
    /// A client for `origin` ("https://en.wikipedia.org"); fails when the user agent is not set.
    pub fn new(origin: &str, settings: &WikipediaSettings) -> Result<Client, String> {
        let user_agent = settings.effective_user_agent()?;
        let http = reqwest::blocking::Client::builder()
            .user_agent(user_agent)
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("cannot set up the HTTP client: {error}"))?;
        Ok(Client {
            http,
            origin: origin.trim_end_matches('/').to_string(),
            settings: settings.clone(),
            last_request: Cell::new(None),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The page's metadata and latest revision, following redirects to the target.
    pub fn page(&self, title: &str) -> Result<PageInfo, FetchError> {
        let mut url = format!(
            "{}/w/rest.php/v1/page/{}/bare",
            self.origin,
            encode_title(title)
        );
        for _ in 0..=MAX_REDIRECTS {
            let response = self.get(&url)?;
            let status = response.status();
            if status.is_redirection() {
                url = self.redirect_target(&url, &response)?;
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(FetchError::NotFound {
                    title: title.to_string(),
                    origin: self.origin.clone(),
                });
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url,
                    status: status.as_u16(),
                });
            }
            let bytes = read_body(&url, response, self.settings.timeout_seconds)?;
            let bare: BareJson =
                serde_json::from_slice(&bytes).map_err(|error| FetchError::Malformed {
                    url: url.clone(),
                    expected: "the page's metadata as JSON",
                    message: error.to_string(),
                })?;
            let asked = title.trim().replace('_', " ");
            let redirected_from =
                (!asked.eq_ignore_ascii_case(&bare.title) && !asked.is_empty()).then_some(asked);
            let licence = bare.license.unwrap_or(LicenceJson {
                url: String::new(),
                title: String::new(),
            });
            return Ok(PageInfo {
                title: bare.title,
                key: bare.key,
                page_id: bare.id,
                revision: bare.latest.id,
                timestamp: bare.latest.timestamp,
                licence_title: licence.title,
                licence_url: licence.url,
                html_url: bare.html_url.unwrap_or_default(),
                redirected_from,
            });
        }
        Err(FetchError::TooManyRedirects { url })
    }

    /// A revision's Parsoid HTML, checked to be whole.
    pub fn revision_html(&self, revision: u64) -> Result<String, FetchError> {
        let url = format!("{}/w/rest.php/v1/revision/{revision}/html", self.origin);
        let response = self.get(&url)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(FetchError::Status {
                url,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let bytes = read_body(&url, response, self.settings.timeout_seconds)?;
        let html = String::from_utf8(bytes).map_err(|error| FetchError::Malformed {
            url: url.clone(),
            expected: "UTF-8 HTML",
            message: error.to_string(),
        })?;
        // Parsoid's documents always end with </html>: one that does not was cut short on
        // the way, even when the connection closed cleanly.
        if !html.trim_end().to_ascii_lowercase().ends_with("</html>") {
            return Err(FetchError::Truncated {
                url,
                message: "the HTML ends before </html>".to_string(),
            });
        }
        Ok(html)
    }

    /// One GET at the polite pace, retrying a 429 or 503 after its Retry-After.
    fn get(&self, url: &str) -> Result<reqwest::blocking::Response, FetchError> {
        let mut tries = 0;
        loop {
            self.wait_turn();
            tries += 1;
            let response = self.http.get(url).send().map_err(|error| {
                if error.is_timeout() {
                    FetchError::Timeout {
                        url: url.to_string(),
                        seconds: self.settings.timeout_seconds,
                    }
                } else {
                    FetchError::Network {
                        origin: self.origin.clone(),
                        message: one_line(&error),
                    }
                }
            })?;
            let status = response.status().as_u16();
            if status != 429 && status != 503 {
                return Ok(response);
            }
            let wait = retry_after(&response).unwrap_or(Duration::from_secs(tries as u64));
            if status == 503 && tries > self.settings.max_retries {
                return Ok(response);
            }
            if tries > self.settings.max_retries || wait > self.settings.max_retry_after() {
                return Err(FetchError::RateLimited {
                    origin: self.origin.clone(),
                    tries,
                    wait_seconds: wait.as_secs().max(1),
                });
            }
            tracing::warn!(
                url,
                status,
                wait_ms = wait.as_millis() as u64,
                "wikipedia asked to slow down; waiting"
            );
            std::thread::sleep(wait);
        }
    }

    fn wait_turn(&self) {
        if let Some(last) = self.last_request.get() {
            let due = last + self.settings.min_request_interval();
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.last_request.set(Some(Instant::now()));
    }

    /// Where a redirect answer points, on this origin only.
    fn redirect_target(
        &self,
        url: &str,
        response: &reqwest::blocking::Response,
    ) -> Result<String, FetchError> {
        let malformed = |message: &str| FetchError::Malformed {
            url: url.to_string(),
            expected: "a redirect with a Location on the same site",
            message: message.to_string(),
        };
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| malformed("no Location header"))?;
        let base = url::Url::parse(url).map_err(|e| malformed(&e.to_string()))?;
        let target = base.join(location).map_err(|e| malformed(&e.to_string()))?;
        if target.origin() != base.origin() {
            return Err(malformed(&format!("it points to another site: {target}")));
        }
        Ok(target.to_string())
    }
}

fn retry_after(response: &reqwest::blocking::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The body, whole: a body shorter than its Content-Length, or cut mid-chunk, is reported as
/// truncated rather than parsed.
fn read_body(
    url: &str,
    response: reqwest::blocking::Response,
    timeout_seconds: f64,
) -> Result<Vec<u8>, FetchError> {
    let declared = response.content_length();
    let bytes = response.bytes().map_err(|error| {
        if error.is_timeout() {
            FetchError::Timeout {
                url: url.to_string(),
                seconds: timeout_seconds,
            }
        } else {
            FetchError::Truncated {
                url: url.to_string(),
                message: one_line(&error),
            }
        }
    })?;
    if let Some(declared) = declared {
        if (bytes.len() as u64) < declared {
            return Err(FetchError::Truncated {
                url: url.to_string(),
                message: format!("{} of {declared} bytes", bytes.len()),
            });
        }
    }
    Ok(bytes.to_vec())
}

/// An error and its causes on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_encoded_as_mediawiki_writes_them() {
        assert_eq!(encode_title("Calcinosis cutis"), "Calcinosis_cutis");
        assert_eq!(encode_title("AC/DC"), "AC%2FDC");
        assert_eq!(
            encode_title("Sjögren's syndrome"),
            "Sj%C3%B6gren's_syndrome"
        );
        assert_eq!(encode_title("What?"), "What%3F");
    }
}
