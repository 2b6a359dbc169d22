//! The `[wikipedia]` section of `config.toml`: where `citebot add` and `citebot refresh` fetch
//! articles, and how politely.

use std::time::Duration;

use serde::Deserialize;

/// The environment variable that overrides `wikipedia.origin` (an origin such as
/// `http://127.0.0.1:8123`): how the tests point citebot at a fake Wikipedia.
pub const ORIGIN_ENV: &str = "CITEBOT_WIKIPEDIA_API_BASE";

/// The site articles are fetched from unless told otherwise.
pub const DEFAULT_ORIGIN: &str = "https://en.wikipedia.org";

/// Settings of `citebot add` and `citebot refresh` (`[wikipedia]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WikipediaSettings {
    /// The wiki's origin; citebot appends `/w/rest.php/v1/…`. `add --lang xx` asks
    /// `https://xx.wikipedia.org` instead, and `CITEBOT_WIKIPEDIA_API_BASE` overrides both.
    pub origin: String,
    /// The User-Agent header. Wikimedia's policy asks every client to name itself and give a
    /// contact address (an e-mail address or a URL); empty means not set yet, and fetching
    /// refuses to start until it is.
    pub user_agent: String,
    /// The longest one request may take, connecting and reading the body included.
    pub timeout_seconds: f64,
    /// At least this long between two requests (Wikimedia asks for requests in series, not
    /// in parallel; one a second is far below any limit).
    pub min_request_interval_seconds: f64,
    /// How often a request answered 429 (too many requests) or 503 is tried again, waiting
    /// what its Retry-After asks (at most `max_retry_after_seconds`).
    pub max_retries: u32,
    /// The longest wait for one Retry-After; a server asking for more is reported instead.
    pub max_retry_after_seconds: f64,
}

impl Default for WikipediaSettings {
    fn default() -> Self {
        WikipediaSettings {
            origin: DEFAULT_ORIGIN.to_string(),
            user_agent: String::new(),
            timeout_seconds: 30.0,
            min_request_interval_seconds: 1.0,
            max_retries: 3,
            max_retry_after_seconds: 60.0,
        }
    }
}

impl WikipediaSettings {
    /// Checks values serde cannot: the error is a one-line message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        parse_origin(&self.origin).map_err(|error| format!("wikipedia.origin: {error}"))?;
        for (key, value, low, high) in [
            ("timeout_seconds", self.timeout_seconds, 0.1, 600.0),
            (
                "min_request_interval_seconds",
                self.min_request_interval_seconds,
                0.0,
                60.0,
            ),
            (
                "max_retry_after_seconds",
                self.max_retry_after_seconds,
                0.0,
                3600.0,
            ),
        ] {
            if !(low..=high).contains(&value) {
                return Err(format!(
                    "wikipedia.{key} = {value} must be between {low} and {high}"
                ));
            }
        }
        if self.max_retries > 10 {
            return Err(format!(
                "wikipedia.max_retries = {} must be at most 10",
                self.max_retries
            ));
        }
        if !self.user_agent.is_empty() && !has_contact(&self.user_agent) {
            return Err(format!(
                "wikipedia.user_agent {:?} has no contact: add an e-mail address or a URL, e.g. \"citebot (https://example.org/our-server; mods@example.org)\", as Wikimedia's User-Agent policy asks",
                self.user_agent
            ));
        }
        Ok(())
    }

    /// The user agent to send, or why fetching cannot start.
    pub fn effective_user_agent(&self) -> Result<String, String> {
        if self.user_agent.trim().is_empty() {
            return Err("set [wikipedia] user_agent in config.toml to a name and a contact address, e.g. user_agent = \"citebot (mods@example.org)\": Wikimedia's User-Agent policy asks every client for one".to_string());
        }
        Ok(format!(
            "{} citebot/{}",
            self.user_agent.trim(),
            env!("CARGO_PKG_VERSION")
        ))
    }

    /// The origin requests go to: `CITEBOT_WIKIPEDIA_API_BASE` when set, else `language`'s
    /// Wikipedia when given, else `wikipedia.origin`.
    pub fn effective_origin(&self, language: Option<&str>) -> Result<String, String> {
        if let Ok(value) = std::env::var(ORIGIN_ENV) {
            if !value.trim().is_empty() {
                return parse_origin(&value).map_err(|error| format!("{ORIGIN_ENV}: {error}"));
            }
        }
        if let Some(language) = language {
            if language.is_empty()
                || language.len() > 12
                || !language.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            {
                return Err(format!(
                    "--lang {language:?} is not a Wikipedia language code: use one like en, de or pt-br"
                ));
            }
            return Ok(format!("https://{language}.wikipedia.org"));
        }
        parse_origin(&self.origin).map_err(|error| format!("wikipedia.origin: {error}"))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }

    pub fn min_request_interval(&self) -> Duration {
        Duration::from_secs_f64(self.min_request_interval_seconds)
    }

    pub fn max_retry_after(&self) -> Duration {
        Duration::from_secs_f64(self.max_retry_after_seconds)
    }
}

fn has_contact(user_agent: &str) -> bool {
    user_agent.contains('@') || user_agent.contains("://")
}

/// `https://en.wikipedia.org`, `http://127.0.0.1:8123/` → the origin without a slash.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|error| {
        format!("{text:?} is not a URL ({error}): write it like https://en.wikipedia.org")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    let extra = !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty();
    if extra || url.host_str().is_none() {
        return Err(format!(
            "{text:?} must be an origin only (scheme, host, port): citebot adds /w/rest.php/v1/"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert_eq!(
            parse_origin("https://en.wikipedia.org/").unwrap(),
            "https://en.wikipedia.org"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8123").unwrap(),
            "http://127.0.0.1:8123"
        );
        assert!(parse_origin("https://en.wikipedia.org/w/rest.php").is_err());
        assert!(parse_origin("ftp://x").is_err());
    }

    #[test]
    fn a_user_agent_needs_a_contact() {
        let settings = WikipediaSettings {
            user_agent: "citebot".into(),
            ..WikipediaSettings::default()
        };
        assert!(settings.validate().unwrap_err().contains("no contact"));
        assert!(WikipediaSettings::default().validate().is_ok());
        assert!(WikipediaSettings::default()
            .effective_user_agent()
            .unwrap_err()
            .contains("user_agent"));
    }
}
