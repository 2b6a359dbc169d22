//! The `[http]` section of `config.toml`: `citebot serve`.
//!
//! The defaults suit a server that faces the internet behind nothing: bodies are small (an
//! interaction is a few KiB), slow clients are cut off, and the JSON API and the page are
//! rate-limited per client address. Behind a proxy, name it in `trusted_proxies` so the limit
//! applies to the client it forwards for, not to the proxy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

/// Settings of `citebot serve` (`[http]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address and port to listen on; `--listen` overrides it. Port 0 picks a free one.
    pub listen: String,
    /// Requests with a larger body get 413 (checked on Content-Length before reading).
    pub max_body_bytes: usize,
    /// A client must send a request's headers within this long (also the longest an idle
    /// kept-alive connection is held open between requests).
    pub header_timeout_seconds: f64,
    /// The longest one request may take, body included; past it the client gets 408/503.
    pub request_timeout_seconds: f64,
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Requests handled at once at most; more get 503 with Retry-After.
    pub max_in_flight: usize,
    /// Deferred answers (acknowledged to Discord, their edit not yet sent) one replica holds
    /// at most. They live only in its memory, so this is what a replica that dies can lose.
    /// When they are all taken, an interaction waits for its answer up to Discord's deadline
    /// instead of being deferred, which slows what is sent to a replica that cannot keep up.
    pub max_deferred: usize,
    /// Requests a minute one client address may make to the JSON API and the page (with a
    /// burst of the same size); 0 turns the limit off. Interactions are not limited here:
    /// they come from Discord's addresses and are signed.
    pub rate_limit_per_minute: u32,
    /// Proxies (e.g. the nginx in front) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Origins allowed to call the JSON API from a browser (CORS); empty sends no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// On SIGTERM, how long requests in flight may take to finish.
    pub shutdown_grace_seconds: f64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".to_string(),
            max_body_bytes: 64 * 1024,
            header_timeout_seconds: 10.0,
            request_timeout_seconds: 10.0,
            max_connections: 1024,
            max_in_flight: 64,
            max_deferred: 32,
            rate_limit_per_minute: 120,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            shutdown_grace_seconds: 10.0,
        }
    }
}

impl HttpSettings {
    /// Checks values serde cannot: the error is a one-line message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        parse_listen(&self.listen).map_err(|error| format!("http.listen: {error}"))?;
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(format!(
                "http.max_body_bytes = {} must be between 1024 and 16777216",
                self.max_body_bytes
            ));
        }
        for (key, value) in [
            ("header_timeout_seconds", self.header_timeout_seconds),
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("shutdown_grace_seconds", self.shutdown_grace_seconds),
        ] {
            if !(value > 0.0 && value <= 3600.0) {
                return Err(format!(
                    "http.{key} = {value} must be more than 0 and at most 3600"
                ));
            }
        }
        if self.max_connections == 0 || self.max_in_flight == 0 || self.max_deferred == 0 {
            return Err(
                "http.max_connections, http.max_in_flight and http.max_deferred must be at least 1"
                    .into(),
            );
        }
        for origin in &self.cors_allowed_origins {
            let parsed = url::Url::parse(origin).ok();
            let is_origin = parsed.as_ref().is_some_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && !origin.ends_with('/')
            });
            if !is_origin {
                return Err(format!(
                    "http.cors_allowed_origins: {origin:?} is not an origin like \"https://example.org\" (scheme and host, optional port, no path)"
                ));
            }
        }
        Ok(())
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.header_timeout_seconds)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_seconds)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown_grace_seconds)
    }
}

/// `127.0.0.1:8080`, `[::1]:8080` or `0.0.0.0:80`: an IP address and a port (no host names,
/// so the address served is exactly the one written).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        format!("{text:?} is not an address and port like 127.0.0.1:8080 or [::1]:8080")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_local() {
        let settings = HttpSettings::default();
        settings.validate().unwrap();
        assert!(parse_listen(&settings.listen).unwrap().ip().is_loopback());
    }

    #[test]
    fn bad_values_are_named() {
        let bad = [
            ("listen = \"localhost:80\"", "http.listen"),
            ("max_body_bytes = 10", "http.max_body_bytes"),
            ("header_timeout_seconds = 0", "http.header_timeout_seconds"),
            ("max_in_flight = 0", "http.max_in_flight"),
            ("max_deferred = 0", "http.max_deferred"),
            (
                "cors_allowed_origins = [\"https://x.org/path\"]",
                "cors_allowed_origins",
            ),
        ];
        for (line, key) in bad {
            let settings: HttpSettings = toml::from_str(line).unwrap();
            let error = settings.validate().unwrap_err();
            assert!(error.contains(key), "{line}: {error}");
        }
    }

    #[test]
    fn repository_config_shows_the_defaults() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config.toml"))
                .unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let section = table
            .get("http")
            .cloned()
            .expect("config.toml documents [http]");
        let settings: HttpSettings = section.try_into().unwrap();
        assert_eq!(settings, HttpSettings::default());
    }

    #[test]
    fn an_origin_is_accepted() {
        let settings: HttpSettings =
            toml::from_str("cors_allowed_origins = [\"https://example.org:8443\"]").unwrap();
        settings.validate().unwrap();
    }
}
