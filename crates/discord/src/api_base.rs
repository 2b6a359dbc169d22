//! The Discord API origin (`discord.api_base`, or `CITEBOT_DISCORD_API_BASE`), parsed and
//! checked. `[discord]`'s settings validate it, and the bot's REST setup (`http.rs`) uses it to
//! decide where its calls go; it depends on neither.

/// The default Discord API origin; REST calls go to `{api_base}/api/v10/...`.
pub const DEFAULT_API_BASE: &str = "https://discord.com";

/// Why an API base from the config or the environment is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ApiBaseError {
    #[error("{value:?} is not a URL ({source}): write it like https://discord.com or http://127.0.0.1:8123")]
    NotUrl {
        value: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{value:?} must start with http:// or https://")]
    Scheme { value: String },
    #[error("{value:?} must be an origin only (scheme, host, port): drop the path, query and credentials; /api/v10 is added by citebot")]
    NotOrigin { value: String },
}

/// The origin REST calls go to: `{origin}/api/v10/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    origin: String,
}

impl ApiBase {
    /// Parses `https://discord.com`, `http://127.0.0.1:8123/` and the like.
    pub fn parse(text: &str) -> Result<ApiBase, ApiBaseError> {
        let trimmed = text.trim().trim_end_matches('/');
        let url = url::Url::parse(trimmed).map_err(|source| ApiBaseError::NotUrl {
            value: text.to_string(),
            source,
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ApiBaseError::Scheme {
                value: text.to_string(),
            });
        }
        let has_extra_parts = !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some();
        let Some(host) = url.host_str().filter(|_| !has_extra_parts) else {
            return Err(ApiBaseError::NotOrigin {
                value: text.to_string(),
            });
        };
        let origin = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(ApiBase { origin })
    }

    /// `https://discord.com` itself, where serenity's own rate limiter applies.
    pub fn is_discord(&self) -> bool {
        self.origin == DEFAULT_API_BASE
    }

    /// The origin, without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl std::fmt::Display for ApiBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_accepts_origins() {
        let base = ApiBase::parse("http://127.0.0.1:8123/").unwrap();
        assert_eq!(base.origin(), "http://127.0.0.1:8123");
        assert!(!base.is_discord());
        assert!(ApiBase::parse(" https://discord.com ")
            .unwrap()
            .is_discord());
    }

    #[test]
    fn api_base_rejects_paths_and_other_schemes() {
        assert!(matches!(
            ApiBase::parse("https://discord.com/api/v10"),
            Err(ApiBaseError::NotOrigin { .. })
        ));
        assert!(matches!(
            ApiBase::parse("ftp://example.com"),
            Err(ApiBaseError::Scheme { .. })
        ));
        assert!(matches!(
            ApiBase::parse("discord"),
            Err(ApiBaseError::NotUrl { .. })
        ));
    }
}
