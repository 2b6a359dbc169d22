//! `citebot serve`: Discord's HTTP interactions endpoint, a JSON API and a search page, as a
//! stateless replica. Any number of them can run behind a load balancer: what they share
//! (feedback, and then cooldowns) lives in the feedback database; what they keep in memory
//! (the asks behind recent buttons) is recovered from the message a button sits under.
//!
//! Code map:
//! - [`settings`]: the `[http]` section of config.toml (always built);
//! - [`signature`]: Discord's Ed25519 request signatures;
//! - [`interactions`]: `POST /interactions`, answered with the gateway bot's own replies;
//! - [`api`]: `GET /v1/search`, `/v1/ask`, `/v1/refs/N` (always built: `citebot ask --json`
//!   prints `/v1/ask`'s answer); [`page`]: `GET /`;
//! - [`metrics`]: `GET /metrics`; this module: the server, its limits, `/healthz`.
//!
//! The server faces the internet, so every request passes [`guard`] first: a body larger
//! than `max_body_bytes` is refused on its Content-Length before any of it is read, requests
//! beyond `max_in_flight` get 503, the JSON API and the page are rate-limited per client
//! address, and a request gets at most `request_timeout_seconds`. Connections are served by
//! hyper with a header read timeout, so slow or idle clients are dropped without holding
//! anything but a socket, and at most `max_connections` are open at once.

pub mod settings;

pub use settings::HttpSettings;

pub mod api;
pub mod interactions;
pub mod metrics;
pub mod page;
pub mod signature;

pub use server::*;

mod server {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::net::{IpAddr, SocketAddr};
    use std::num::NonZeroU32;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use axum::body::{Body, Bytes};
    use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
    use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
    use axum::middleware::{self, Next};
    use axum::response::{Html, IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::Router;
    use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use serde_json::json;
    use tokio::net::TcpListener;
    use tokio::sync::Semaphore;
    use tower::ServiceExt;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    use tracing::{debug, info, warn};

    use super::metrics::{Metrics, Surface, Verdict};
    use super::settings::{parse_listen, HttpSettings};
    use super::signature::{KeyError, Verifier, PUBLIC_KEY_ENV};
    use super::{api, interactions, page};
    use citebot_core::config::Config;
    use citebot_core::engine::Engine;
    use citebot_discord::feedback::{FeedbackError, FeedbackStore};
    use citebot_discord::state::BotState;
    use citebot_discord::{api_base::ApiBase, DiscordSettings};
    use citebot_presentation::json;

    /// Why `citebot serve` could not start. Messages say what to do.
    #[derive(Debug, thiserror::Error)]
    pub enum ServeError {
        #[error("config: {0}")]
        Config(String),
        #[error("cannot listen on {addr}: {source} (is another process using the port? choose another with --listen or http.listen)")]
        Bind {
            addr: SocketAddr,
            #[source]
            source: std::io::Error,
        },
        #[error(transparent)]
        Key(#[from] KeyError),
        #[error(transparent)]
        Engine(#[from] citebot_core::Error),
        #[error(transparent)]
        Feedback(#[from] FeedbackError),
        #[error("cannot make the HTTP client for Discord's webhooks: {0}")]
        Client(String),
        #[error("a background task failed: {0}")]
        Task(#[source] tokio::task::JoinError),
    }

    impl ServeError {
        /// Whether starting again later may succeed: a port still held by another process (a
        /// replica being replaced) or a database not up yet may pass; a bad setting does not.
        pub fn class(&self) -> citebot_core::error::ErrorClass {
            use citebot_core::error::ErrorClass;
            match self {
                ServeError::Bind { source, .. } => ErrorClass::of_io(source),
                ServeError::Engine(error) => error.class(),
                ServeError::Feedback(error) => error.class(),
                ServeError::Config(_)
                | ServeError::Key(_)
                | ServeError::Client(_)
                | ServeError::Task(_) => ErrorClass::Permanent,
            }
        }
    }

    /// What every request handler shares.
    pub struct Server {
        /// The bot's state: engine, library, cooldowns, asks, feedback, `[discord]` settings.
        pub bot: Arc<BotState>,
        /// `None` when no public key is configured: `/interactions` then answers 503.
        pub verifier: Option<Verifier>,
        pub settings: HttpSettings,
        pub metrics: Metrics,
        /// Where deferred answers are edited: `{api_base}/api/v10/webhooks/…`.
        pub api_base: String,
        pub webhook: reqwest::Client,
        limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
        in_flight: Arc<Semaphore>,
        /// One permit per deferred answer whose edit is not sent yet (`http.max_deferred`).
        pub deferred: Arc<Semaphore>,
    }

    /// A JSON body with its status: every answer of the API and of `/interactions`. The body
    /// is serialized from the value itself (not through `serde_json::Value`), so numbers are
    /// written exactly as `citebot search --json` writes them.
    #[derive(Debug)]
    pub struct JsonResponse {
        pub status: u16,
        body: Vec<u8>,
    }

    impl JsonResponse {
        pub fn ok(body: &impl serde::Serialize) -> JsonResponse {
            JsonResponse::with_status(200, body)
        }

        pub fn with_status(status: u16, body: &impl serde::Serialize) -> JsonResponse {
            match serde_json::to_vec(body) {
                Ok(body) => JsonResponse { status, body },
                Err(_) => JsonResponse::error(500, "the answer could not be encoded"),
            }
        }

        /// `{"error": message}`: says what was wrong, never how citebot is built.
        pub fn error(status: u16, message: impl Into<String>) -> JsonResponse {
            let body = json!({"error": message.into()}).to_string().into_bytes();
            JsonResponse { status, body }
        }
    }

    impl IntoResponse for JsonResponse {
        fn into_response(self) -> Response {
            let status =
                StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                self.body,
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }

    /// The application's public key: `DISCORD_PUBLIC_KEY` when set and not blank, else
    /// `discord.public_key`; `None` when neither is.
    pub fn public_key(settings: &DiscordSettings) -> Result<Option<Verifier>, KeyError> {
        match std::env::var(PUBLIC_KEY_ENV) {
            Ok(key) if !key.trim().is_empty() => Verifier::from_hex(&key, PUBLIC_KEY_ENV).map(Some),
            _ => match &settings.public_key {
                Some(key) => Verifier::from_hex(key, "discord.public_key").map(Some),
                None => Ok(None),
            },
        }
    }

    /// `citebot serve`: opens the engine and the feedback store, listens, and serves until
    /// Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run(
        core: Config,
        discord: DiscordSettings,
        http: HttpSettings,
        listen: Option<SocketAddr>,
    ) -> Result<(), ServeError> {
        discord.validate().map_err(ServeError::Config)?;
        http.validate().map_err(ServeError::Config)?;
        let addr = match listen {
            Some(addr) => addr,
            None => parse_listen(&http.listen).map_err(ServeError::Config)?,
        };
        let verifier = public_key(&discord)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let engine = tokio::task::spawn_blocking(move || Engine::open(&core))
            .await
            .map_err(ServeError::Task)??;
        let server = Arc::new(Server::new(Arc::new(engine), discord, http, verifier).await?);
        serve(server, listener, citebot_discord::shutdown_signal()).await
    }

    impl Server {
        /// The shared state over an opened engine (tests build one directly).
        pub async fn new(
            engine: Arc<Engine>,
            discord: DiscordSettings,
            http: HttpSettings,
            verifier: Option<Verifier>,
        ) -> Result<Server, ServeError> {
            let api_base = ApiBase::parse(&discord.effective_api_base())
                .map_err(|error| ServeError::Config(format!("discord api base: {error}")))?
                .to_string();
            let feedback_path = discord.effective_feedback_db().map_err(|error| {
                ServeError::Config(format!(
                    "{}: {error}",
                    citebot_discord::settings::FEEDBACK_DB_ENV
                ))
            })?;
            let feedback = tokio::task::spawn_blocking(move || FeedbackStore::open(&feedback_path))
                .await
                .map_err(ServeError::Task)??;
            let bot = tokio::task::spawn_blocking(move || {
                Arc::new(BotState::new(engine, discord, Arc::new(feedback)))
            })
            .await
            .map_err(ServeError::Task)?;
            let webhook = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("citebot/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|error| ServeError::Client(error.to_string()))?;
            let limiter = NonZeroU32::new(http.rate_limit_per_minute)
                .map(|per_minute| RateLimiter::keyed(Quota::per_minute(per_minute)));
            let metrics = Metrics::new();
            metrics.serving(&bot.engine.generation(), false);
            Ok(Server {
                in_flight: Arc::new(Semaphore::new(http.max_in_flight)),
                deferred: Arc::new(Semaphore::new(http.max_deferred)),
                bot,
                verifier,
                settings: http,
                metrics,
                api_base,
                webhook,
                limiter,
            })
        }

        /// The address a request's rate limit applies to: the peer, or, when the peer is a
        /// trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
        fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
            if !self.settings.trusted_proxies.contains(&peer) {
                return peer;
            }
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|part| part.trim().parse::<IpAddr>().ok())
                .collect::<Vec<_>>();
            forwarded
                .into_iter()
                .rev()
                .find(|address| !self.settings.trusted_proxies.contains(address))
                .unwrap_or(peer)
        }
    }

    /// The routes, behind the [`guard`].
    pub fn router(server: Arc<Server>) -> Router {
        let routes = Router::new()
            .route("/interactions", post(interactions_route))
            .route("/v1/search", get(search_route))
            .route("/v1/ask", get(ask_route))
            .route("/v1/refs/:number", get(refs_route))
            .route("/healthz", get(healthz_route))
            .route("/metrics", get(metrics_route))
            .route("/", get(page_route))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(server.settings.max_body_bytes))
            .layer(middleware::from_fn_with_state(Arc::clone(&server), guard));
        // No CORS headers at all unless origins are configured: a browser on another site
        // then cannot read the API's answers.
        let origins: Vec<HeaderValue> = server
            .settings
            .cors_allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        let routes = if origins.is_empty() {
            routes
        } else {
            routes.layer(
                CorsLayer::new()
                    .allow_origin(AllowOrigin::list(origins))
                    .allow_methods([Method::GET]),
            )
        };
        routes.with_state(server)
    }

    /// Serves `listener` until `shutdown` resolves; then stops accepting, lets requests in
    /// flight (and deferred answers) finish within `shutdown_grace_seconds`, and returns.
    pub async fn serve(
        server: Arc<Server>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let local = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        // The one line a supervisor or a test waits for.
        eprintln!("citebot: serving on http://{local}");
        info!(%local, interactions = server.verifier.is_some(), "serving");
        if server.verifier.is_none() {
            warn!("no Discord public key (set {PUBLIC_KEY_ENV}): /interactions answers 503; the JSON API and the page work");
        }
        let app = router(Arc::clone(&server));
        // The bot's reload loop; each switch is reported in the metrics.
        let reported = Arc::clone(&server);
        let reloader = tokio::spawn(citebot_discord::reload_periodically(
            Arc::clone(&server.bot),
            move || {
                reported
                    .metrics
                    .serving(&reported.bot.engine.generation(), true)
            },
        ));
        let connections = Arc::new(Semaphore::new(server.settings.max_connections));
        let graceful = GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(server.settings.header_timeout())
            .keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, most often: wait instead of spinning.
                        warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                server.metrics.refused("too_many_connections");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service =
                app.clone()
                    .map_request(move |mut request: Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ConnectInfo(peer));
                        request.map(Body::new)
                    });
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    debug!(%error, %peer, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        info!("shutting down: finishing the requests in flight");
        let grace = server.settings.shutdown_grace();
        let finished = async {
            graceful.shutdown().await;
            server.bot.in_flight.drained().await;
        };
        if tokio::time::timeout(grace, finished).await.is_err() {
            warn!("requests still in flight after the shutdown grace, leaving them");
        }
        reloader.abort();
        info!("server stopped");
        Ok(())
    }

    /// What every request passes before its handler: size, load, rate and time limits, and
    /// the response's metrics and headers.
    async fn guard(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
        let route: &'static str = route_name(
            request
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str),
        );
        let response = guarded(&server, route, request, next).await;
        let mut response = json_errors(response);
        let headers = response.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        server.metrics.response(route, response.status().as_u16());
        response
    }

    async fn guarded(
        server: &Server,
        route: &'static str,
        request: Request,
        next: Next,
    ) -> Response {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > server.settings.max_body_bytes as u64) {
            server.metrics.refused("too_large");
            let mut response = JsonResponse::error(
                413,
                format!(
                    "the body is larger than {} bytes",
                    server.settings.max_body_bytes
                ),
            )
            .into_response();
            // The rest of the body is never read: the connection closes after this answer.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        let Ok(_permit) = Arc::clone(&server.in_flight).try_acquire_owned() else {
            server.metrics.refused("overloaded");
            let mut response =
                JsonResponse::error(503, "citebot is busy; try again in a second").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        };
        if matches!(route, "/v1/search" | "/v1/ask" | "/v1/refs" | "/") {
            if let Some(limiter) = &server.limiter {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|info| info.0.ip())
                    .unwrap_or(IpAddr::from([127, 0, 0, 1]));
                let client = server.client_address(peer, request.headers());
                if let Err(not_until) = limiter.check_key(&client) {
                    server.metrics.refused("rate_limited");
                    let wait = not_until
                        .wait_time_from(governor::clock::Clock::now(
                            &governor::clock::DefaultClock::default(),
                        ))
                        .as_secs()
                        .max(1);
                    let mut response = JsonResponse::error(
                        429,
                        format!("too many requests from this address; try again in {wait} s"),
                    )
                    .into_response();
                    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    return response;
                }
                // Forget addresses that have been quiet for a whole period.
                if limiter.len() > 10_000 {
                    limiter.retain_recent();
                }
            }
        }
        let timeout = server.settings.request_timeout();
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                server.metrics.refused("timeout");
                JsonResponse::error(
                    408,
                    format!(
                        "the request was not completed within {} s",
                        timeout.as_secs_f64()
                    ),
                )
                .into_response()
            }
        }
    }

    /// The route label of a request, from the route it matched ("other" for none).
    fn route_name(matched: Option<&str>) -> &'static str {
        match matched {
            Some("/interactions") => "/interactions",
            Some("/v1/search") => "/v1/search",
            Some("/v1/ask") => "/v1/ask",
            Some("/v1/refs/:number") => "/v1/refs",
            Some("/healthz") => "/healthz",
            Some("/metrics") => "/metrics",
            Some("/") => "/",
            _ => "other",
        }
    }

    /// An error response that axum or hyper made in plain text (a malformed query string, a
    /// chunked body over the limit, a wrong method) gets a JSON body instead, so every error a
    /// client sees has the same shape.
    fn json_errors(response: Response) -> Response {
        let status = response.status();
        let is_json_or_html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.starts_with("application/json") || value.starts_with("text/html")
            });
        if !(status.is_client_error() || status.is_server_error()) || is_json_or_html {
            return response;
        }
        let message = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this path does not take that method".to_string(),
            StatusCode::PAYLOAD_TOO_LARGE => "the body is too large".to_string(),
            StatusCode::BAD_REQUEST => {
                "the query string cannot be read: use ?q=…&top=N".to_string()
            }
            other => other
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_lowercase(),
        };
        let (parts, _) = response.into_parts();
        let mut fresh = JsonResponse::error(status.as_u16(), message).into_response();
        for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
            if let Some(value) = parts.headers.get(&name) {
                fresh.headers_mut().insert(name, value.clone());
            }
        }
        fresh
    }

    fn now_unix() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    }

    async fn interactions_route(
        State(server): State<Arc<Server>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let Some(verifier) = &server.verifier else {
            return JsonResponse::error(
                503,
                format!("interactions are not set up on this server: set {PUBLIC_KEY_ENV} to the application's public key"),
            )
            .into_response();
        };
        let signature = headers
            .get("x-signature-ed25519")
            .map(HeaderValue::as_bytes);
        let timestamp = headers
            .get("x-signature-timestamp")
            .map(HeaderValue::as_bytes);
        if let Err(rejection) = verifier.verify(signature, timestamp, &body, now_unix()) {
            server.metrics.signature_rejected(rejection.reason());
            debug!(%rejection, "interaction refused");
            return JsonResponse::error(401, "invalid request signature").into_response();
        }
        let _busy = server.bot.in_flight.enter();
        interactions::handle(Arc::clone(&server), &body)
            .await
            .into_response()
    }

    /// Answers a question on a blocking thread (the engine's work is CPU-bound).
    async fn answer(server: &Server, question: String, top: usize) -> Option<citebot_core::Answer> {
        let engine = Arc::clone(&server.bot.engine);
        tokio::task::spawn_blocking(move || engine.ask(&question, top))
            .await
            .ok()
    }

    fn count(server: &Server, surface: Surface, answer: &citebot_core::Answer, started: Instant) {
        let verdict = if answer.answered() {
            Verdict::Answered
        } else {
            Verdict::NoAnswer
        };
        server
            .metrics
            .question(surface, verdict, Some(started.elapsed().as_secs_f64()));
    }

    async fn search_route(
        State(server): State<Arc<Server>>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Response {
        let started = Instant::now();
        let (question, top) = match api::question_params(&params, 10, 100) {
            Ok(checked) => checked,
            Err(error) => return JsonResponse::error(error.status, error.message).into_response(),
        };
        let Some(answer) = answer(&server, question, top).await else {
            return JsonResponse::error(500, "the question could not be answered").into_response();
        };
        count(&server, Surface::Api, &answer, started);
        JsonResponse::ok(&citebot_presentation::json::SearchResponse::from_answer(
            &answer,
        ))
        .into_response()
    }

    async fn ask_route(
        State(server): State<Arc<Server>>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Response {
        let started = Instant::now();
        let default_top = server.bot.engine.config().search.top;
        let (question, top) = match api::question_params(&params, default_top, 50) {
            Ok(checked) => checked,
            Err(error) => return JsonResponse::error(error.status, error.message).into_response(),
        };
        let Some(answer) = answer(&server, question, top).await else {
            return JsonResponse::error(500, "the question could not be answered").into_response();
        };
        count(&server, Surface::Api, &answer, started);
        let emergency = server.bot.emergency.is_emergency(&answer.question);
        JsonResponse::ok(&json::ask_response(&server.bot.engine, &answer, emergency))
            .into_response()
    }

    async fn refs_route(
        State(server): State<Arc<Server>>,
        Path(number): Path<String>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Response {
        match api::reference(&server.bot.engine, &number, &params) {
            Ok(citation) => JsonResponse::ok(&citation).into_response(),
            Err(error) => JsonResponse::error(error.status, error.message).into_response(),
        }
    }

    async fn healthz_route(State(server): State<Arc<Server>>) -> Response {
        let engine = &server.bot.engine;
        JsonResponse::ok(&json!({
            "status": "ok",
            "generation": engine.generation(),
            "articles": engine.article_count(),
        }))
        .into_response()
    }

    async fn metrics_route(State(server): State<Arc<Server>>) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            server.metrics.render(),
        )
            .into_response()
    }

    async fn page_route(
        State(server): State<Arc<Server>>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Response {
        let started = Instant::now();
        let library = server.bot.library();
        let default_top = server.bot.engine.config().search.top;
        let html = match params.get("q").filter(|q| !q.trim().is_empty()) {
            None => page::render(&library, None, None, None, false),
            Some(question) => {
                let emergency = server.bot.emergency.is_emergency(question);
                match api::question_params(&params, default_top, 10) {
                    Err(error) => page::render(
                        &library,
                        Some(question),
                        None,
                        Some(&error.message),
                        emergency,
                    ),
                    Ok((question, top)) => match answer(&server, question.clone(), top).await {
                        Some(answer) => {
                            count(&server, Surface::Page, &answer, started);
                            page::render(&library, Some(&question), Some(&answer), None, emergency)
                        }
                        None => page::render(
                            &library,
                            Some(&question),
                            None,
                            Some("The question could not be answered; please try again."),
                            emergency,
                        ),
                    },
                }
            }
        };
        let mut response = Html(html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
        );
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        response
    }

    async fn not_found() -> Response {
        JsonResponse::error(
            404,
            "no such path: citebot serves /, /v1/search, /v1/ask, /v1/refs/N, /interactions, /healthz and /metrics",
        )
        .into_response()
    }
}
