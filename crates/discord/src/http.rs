//! Where the bot's REST calls go, and what happens when Discord answers 429.
//!
//! Against the real Discord (`https://discord.com`, the default) serenity's own rate limiter
//! does everything: per-route buckets, the global limit, retries after `retry_after`.
//!
//! Any other API base (a fake Discord in the tests, an HTTP proxy in front of Discord) cannot use
//! that limiter: in serenity 0.12 `HttpBuilder::proxy` is ignored while the limiter is on
//! (`Ratelimiter::perform` builds every request without the proxy), so the requests would still
//! go to discord.com. Turning the limiter off makes the proxy work but loses 429 handling, and
//! serenity's error for a 429 drops both the `Retry-After` header and the body's `retry_after`.
//! So for another base the bot starts a [`RestRelay`]: a small HTTP server on loopback that
//! serenity talks to (limiter off, proxy = the relay), which forwards every request with its own
//! reqwest client to `{api_base}/api/v10/...`, waits out `retry_after` on a 429 and tries again,
//! honours the global limit, and holds back requests on a route whose bucket is exhausted
//! (`X-RateLimit-Remaining: 0`) until `X-RateLimit-Reset-After` has passed. serenity
//! is unaware of it, so every call it makes gets the same handling.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serenity::all::CreateAllowedMentions;
use serenity::http::{Http, HttpBuilder};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tracing::{debug, warn};

pub use super::api_base::{ApiBase, ApiBaseError};

/// How the relay treats 429 answers.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries of one request after 429s before the 429 is passed on.
    pub max_retries: u32,
    /// A `retry_after` longer than this is passed on instead of waited out: the interaction
    /// it belongs to would be dead by then anyway.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Why the REST side could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RestSetupError {
    #[error("cannot start the local REST relay on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// serenity's `Http`, plus the relay it talks to when the API base is not Discord itself.
/// Keep the whole value alive as long as the client runs: dropping it stops the relay.
pub struct Rest {
    pub http: Http,
    pub relay: Option<RestRelay>,
}

/// Builds the `Http` serenity uses for every REST call. Allowed mentions default to
/// none, so even a builder that forgets to set them cannot ping anyone.
pub async fn connect_rest(
    token: &str,
    api_base: &ApiBase,
    policy: RetryPolicy,
) -> Result<Rest, RestSetupError> {
    let builder = HttpBuilder::new(token).default_allowed_mentions(CreateAllowedMentions::new());
    if api_base.is_discord() {
        return Ok(Rest {
            http: builder.build(),
            relay: None,
        });
    }
    let relay = RestRelay::start(api_base.clone(), policy).await?;
    let http = builder
        .proxy(relay.origin())
        .ratelimiter_disabled(true)
        .build();
    Ok(Rest {
        http,
        relay: Some(relay),
    })
}

/// A loopback HTTP server that forwards requests to the API base and handles 429s.
/// Stops when dropped.
pub struct RestRelay {
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl RestRelay {
    /// Binds `127.0.0.1` on a free port and starts serving.
    pub async fn start(
        upstream: ApiBase,
        policy: RetryPolicy,
    ) -> Result<RestRelay, RestSetupError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(RestSetupError::Bind)?;
        let address = listener.local_addr().map_err(RestSetupError::Bind)?;
        let client = reqwest::Client::builder()
            // Redirects would re-send the token somewhere else; Discord never redirects the API.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RestSetupError::Client)?;
        let state = Arc::new(RelayState {
            upstream,
            client,
            policy,
            limits: Mutex::new(RateLimits::default()),
        });
        let server = tokio::spawn(serve(listener, state));
        debug!(%address, "rest relay listening");
        Ok(RestRelay { address, server })
    }

    /// `http://127.0.0.1:PORT`, what serenity is pointed at.
    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for RestRelay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct RelayState {
    upstream: ApiBase,
    client: reqwest::Client,
    policy: RetryPolicy,
    limits: Mutex<RateLimits>,
}

/// What the relay knows about Discord's limits: when the global limit lifts, and which routes
/// are exhausted until when. Only blocked routes are kept, so the map stays small.
#[derive(Default)]
struct RateLimits {
    global_until: Option<Instant>,
    route_until: HashMap<String, Instant>,
}

impl RateLimits {
    /// How long a request on `route` must wait before it may be sent.
    fn wait_before(&mut self, route: &str, now: Instant) -> Duration {
        self.route_until.retain(|_, until| *until > now);
        let route_wait = self.route_until.get(route).map(|until| *until - now);
        let global_wait = self
            .global_until
            .filter(|until| *until > now)
            .map(|until| until - now);
        route_wait
            .into_iter()
            .chain(global_wait)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

async fn serve(listener: TcpListener, state: Arc<RelayState>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                warn!(%error, "rest relay cannot accept a connection");
                continue;
            }
        };
        // Requests and answers are small: without this, Nagle's algorithm and delayed ACKs
        // hold some of them back by 40 ms.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot disable nagle on a relay connection");
        }
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| forward(Arc::clone(&state), request));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%error, "rest relay connection ended");
            }
        });
    }
}

/// Headers that describe one hop, not the message, and must not be forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn is_forwardable(name: &HeaderName) -> bool {
    name != hyper::header::CONTENT_LENGTH && !HOP_BY_HOP.contains(&name.as_str())
}

async fn forward(
    state: Arc<RelayState>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Ok(relay_error(
                hyper::StatusCode::BAD_REQUEST,
                &error.to_string(),
            ))
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|value| value.as_str())
        .unwrap_or("/");
    let url = format!("{}{path_and_query}", state.upstream.origin());
    let route = format!("{} {}", parts.method, redact_path(parts.uri.path()));
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in parts
        .headers
        .iter()
        .filter(|(name, _)| is_forwardable(name))
    {
        headers.append(name.clone(), value.clone());
    }

    let mut retries = 0;
    loop {
        let wait = lock_limits(&state).wait_before(&route, Instant::now());
        if !wait.is_zero() {
            debug!(route = %route, wait_ms = wait.as_millis() as u64, "waiting for a rate limit to lift");
            tokio::time::sleep(wait).await;
        }
        let sent = state
            .client
            .request(parts.method.clone(), &url)
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                warn!(route = %route, error = %error.without_url(), "discord api unreachable");
                return Ok(relay_error(
                    hyper::StatusCode::BAD_GATEWAY,
                    "the discord api base is unreachable",
                ));
            }
        };
        let status = response.status();
        let response_headers = response.headers().clone();
        let response_body = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(route = %route, error = %error.without_url(), "discord api response cut off");
                return Ok(relay_error(
                    hyper::StatusCode::BAD_GATEWAY,
                    "the discord api response was cut off",
                ));
            }
        };

        let limit = RateLimitAnswer::read(status, &response_headers, &response_body);
        let now = Instant::now();
        if let Some(reset_after) = limit.bucket_exhausted_for {
            lock_limits(&state)
                .route_until
                .insert(route.clone(), now + reset_after);
        }
        let Some(retry_after) = limit.retry_after else {
            return Ok(build_response(status, &response_headers, response_body));
        };
        if limit.global {
            let mut limits = lock_limits(&state);
            let until = now + retry_after;
            limits.global_until = Some(limits.global_until.map_or(until, |old| old.max(until)));
        } else {
            lock_limits(&state)
                .route_until
                .insert(route.clone(), now + retry_after);
        }
        if retries >= state.policy.max_retries || retry_after > state.policy.max_wait {
            warn!(route = %route, retries, retry_after_ms = retry_after.as_millis() as u64, "rate limited by discord, giving up");
            return Ok(build_response(status, &response_headers, response_body));
        }
        retries += 1;
        warn!(route = %route, retries, global = limit.global, retry_after_ms = retry_after.as_millis() as u64, "rate limited by discord, retrying");
    }
}

fn lock_limits(state: &RelayState) -> std::sync::MutexGuard<'_, RateLimits> {
    // The map holds no invariant a panicking holder could break, so a poisoned lock is usable.
    state
        .limits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The rate-limit facts of one response.
#[derive(Debug, Default, PartialEq)]
struct RateLimitAnswer {
    /// Set on a 429: how long to wait before trying again.
    retry_after: Option<Duration>,
    /// The 429 is for the whole bot, not one route.
    global: bool,
    /// The route has no requests left; it resets after this long.
    bucket_exhausted_for: Option<Duration>,
}

impl RateLimitAnswer {
    fn read(status: hyper::StatusCode, headers: &HeaderMap, body: &[u8]) -> RateLimitAnswer {
        let bucket_exhausted_for = (header_f64(headers, "x-ratelimit-remaining") == Some(0.0))
            .then(|| header_f64(headers, "x-ratelimit-reset-after"))
            .flatten()
            .and_then(seconds);
        if status != hyper::StatusCode::TOO_MANY_REQUESTS {
            return RateLimitAnswer {
                bucket_exhausted_for,
                ..RateLimitAnswer::default()
            };
        }
        // The body's `retry_after` has millisecond precision; the header is whole seconds.
        #[derive(serde::Deserialize)]
        struct Body {
            retry_after: Option<f64>,
            #[serde(default)]
            global: bool,
        }
        let parsed: Option<Body> = serde_json::from_slice(body).ok();
        let from_body = parsed.as_ref().and_then(|body| body.retry_after);
        let retry_after = from_body
            .or_else(|| header_f64(headers, "retry-after"))
            .and_then(seconds)
            // A 429 without any delay still means "not now": wait a little rather than hammer.
            .unwrap_or(Duration::from_secs(1));
        let global = parsed.is_some_and(|body| body.global)
            || headers
                .get("x-ratelimit-global")
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        RateLimitAnswer {
            retry_after: Some(retry_after),
            global,
            bucket_exhausted_for,
        }
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn seconds(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value).ok()
}

fn build_response(
    status: hyper::StatusCode,
    headers: &HeaderMap,
    body: Bytes,
) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in headers.iter().filter(|(name, _)| is_forwardable(name)) {
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

/// An error answer shaped like Discord's, so serenity reports it instead of failing to decode.
fn relay_error(status: hyper::StatusCode, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({ "code": 0, "message": message }).to_string();
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The path with interaction and webhook tokens replaced by `:token`: they grant the right to
/// answer as the bot for 15 minutes and must not end up in logs.
pub fn redact_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut redacted: Vec<&str> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let after_token_owner = index >= 2
            && matches!(segments[index - 2], "interactions" | "webhooks")
            && segments[index - 1]
                .bytes()
                .all(|byte| byte.is_ascii_digit());
        redacted.push(if after_token_owner { ":token" } else { segment });
    }
    redacted.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted() {
        assert_eq!(
            redact_path("/api/v10/interactions/123/aW50ZXJhY3Rpb24/callback"),
            "/api/v10/interactions/123/:token/callback"
        );
        assert_eq!(
            redact_path("/api/v10/webhooks/1000/tok/messages/@original"),
            "/api/v10/webhooks/1000/:token/messages/@original"
        );
        assert_eq!(
            redact_path("/api/v10/channels/5/messages"),
            "/api/v10/channels/5/messages"
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn retry_after_prefers_the_precise_body() {
        let answer = RateLimitAnswer::read(
            hyper::StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "1")]),
            br#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#,
        );
        assert_eq!(answer.retry_after, Some(Duration::from_millis(250)));
        assert!(!answer.global);
    }

    #[test]
    fn retry_after_falls_back_to_the_header_and_sees_global() {
        let answer = RateLimitAnswer::read(
            hyper::StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "2"), ("x-ratelimit-global", "true")]),
            b"not json",
        );
        assert_eq!(answer.retry_after, Some(Duration::from_secs(2)));
        assert!(answer.global);
    }

    #[test]
    fn exhausted_bucket_is_noticed_on_success() {
        let answer = RateLimitAnswer::read(
            hyper::StatusCode::OK,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", "0.5"),
            ]),
            b"{}",
        );
        assert_eq!(answer.retry_after, None);
        assert_eq!(
            answer.bucket_exhausted_for,
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn waits_are_the_longest_of_route_and_global() {
        let now = Instant::now();
        let mut limits = RateLimits::default();
        assert_eq!(limits.wait_before("POST /x", now), Duration::ZERO);
        limits
            .route_until
            .insert("POST /x".to_string(), now + Duration::from_millis(300));
        limits.global_until = Some(now + Duration::from_millis(100));
        assert_eq!(
            limits.wait_before("POST /x", now),
            Duration::from_millis(300)
        );
        assert_eq!(
            limits.wait_before("POST /y", now),
            Duration::from_millis(100)
        );
        let later = now + Duration::from_secs(1);
        assert_eq!(limits.wait_before("POST /x", later), Duration::ZERO);
        assert!(limits.route_until.is_empty());
    }
}
