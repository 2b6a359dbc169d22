//! A fake Discord on 127.0.0.1 for end-to-end tests of the bot: a REST server that records every
//! request and answers like Discord, and a gateway websocket that speaks the real protocol
//! (HELLO, IDENTIFY → READY, heartbeats, dispatches, RESUME → replay + RESUMED).
//!
//! Every frame it sends is first deserialized into serenity's `GatewayEvent`: an event serenity
//! cannot read (or reads as `Event::Unknown`, which it drops silently) fails the test, so a
//! serenity upgrade that changes the model fails loudly instead of timing out.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use serenity::model::event::{Event, GatewayEvent};
use tokio::sync::{mpsc, watch};

/// The bot's user id and application id in READY.
pub const BOT_ID: u64 = 1000;
pub const APP_ID: u64 = 1000;
pub const GUILD_ID: u64 = 2000;
pub const CHANNEL_ID: u64 = 3000;
pub const USER_ID: u64 = 4000;
/// The token the fake accepts; any other gets 401 on `GET /gateway/bot`.
pub const TOKEN: &str = "fake-token";
pub const SESSION_ID: &str = "fake-session";

/// How long a test waits for something the bot should do before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A REST request the bot made.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with query, e.g. `/api/v10/channels/3000/messages`.
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
    pub status: u16,
    pub at: Instant,
}

/// A scripted answer for the next matching request(s).
#[derive(Debug, Clone)]
struct Override {
    method: String,
    path_contains: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    remaining: usize,
}

enum Outgoing {
    Frame(String),
    Close(u16),
}

struct FakeState {
    address: SocketAddr,
    heartbeat_interval_ms: u64,
    requests: Mutex<Vec<Recorded>>,
    requests_changed: watch::Sender<usize>,
    overrides: Mutex<Vec<Override>>,
    /// The live gateway connection, if any.
    gateway: Mutex<Option<mpsc::UnboundedSender<Outgoing>>>,
    /// Frames received from the bot (IDENTIFY, RESUME, heartbeats…), parsed.
    received: Mutex<Vec<Value>>,
    received_changed: watch::Sender<usize>,
    /// Every dispatch sent or queued, by sequence number, for replay on RESUME.
    dispatched: Mutex<Vec<(u64, String)>>,
    /// Frames the fake produced that serenity cannot read.
    invalid_frames: Mutex<Vec<String>>,
    /// Requests the bot sent that Discord's API description rejects (see `discord_spec`).
    off_spec: Mutex<Vec<String>>,
    next_id: AtomicU64,
    connections: AtomicUsize,
}

/// The fake; stops when dropped.
pub struct FakeDiscord {
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    /// Stops the fake, and fails the test that used it when the bot sent anything Discord's
    /// API description rejects (unless the test is already failing).
    fn drop(&mut self) {
        self.server.abort();
        if !std::thread::panicking() {
            self.assert_requests_valid();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeDiscord {
    /// Starts the fake on a free port of 127.0.0.1. Every request body it receives is checked
    /// against Discord's API description, so the spec is loaded first: a missing one fails
    /// here, saying what is missing (unless `CITEBOT_SKIP_SHARED=1`).
    pub async fn start() -> FakeDiscord {
        crate::discord_spec::spec();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the fake discord");
        let address = listener.local_addr().expect("fake discord address");
        let state = Arc::new(FakeState {
            address,
            heartbeat_interval_ms: 250,
            requests: Mutex::new(Vec::new()),
            requests_changed: watch::channel(0).0,
            overrides: Mutex::new(Vec::new()),
            gateway: Mutex::new(None),
            received: Mutex::new(Vec::new()),
            received_changed: watch::channel(0).0,
            dispatched: Mutex::new(Vec::new()),
            invalid_frames: Mutex::new(Vec::new()),
            off_spec: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(900_000),
            connections: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/ws", get(gateway_upgrade))
            .fallback(rest)
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                // Like Discord's edge: no Nagle delay on small frames.
                .tcp_nodelay(true)
                .await
                .expect("fake discord server");
        });
        FakeDiscord { state, server }
    }

    /// `http://127.0.0.1:PORT`, the API base to give the bot.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.state.address)
    }

    /// A fresh snowflake-like id.
    pub fn next_id(&self) -> u64 {
        self.state.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// How many gateway connections the bot opened so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Answers the next `times` requests whose method is `method` and whose path contains
    /// `path_contains` with this status, headers and JSON body instead of the default.
    pub fn respond_with(
        &self,
        method: &str,
        path_contains: &str,
        times: usize,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        lock(&self.state.overrides).push(Override {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body,
            remaining: times,
        });
    }

    /// All REST requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    /// The number of requests so far: pass it to [`Self::wait_for_request`] to look only at
    /// later ones.
    pub fn mark(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// Waits (at most [`WAIT`]) for a request at index `from` or later matching `matches`.
    pub async fn wait_for_request(
        &self,
        from: usize,
        what: &str,
        matches: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let mut changed = self.state.requests_changed.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            changed.borrow_and_update();
            if let Some(found) = lock(&self.state.requests)
                .iter()
                .skip(from)
                .find(|request| matches(request))
                .cloned()
            {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                let seen: Vec<String> = self
                    .requests()
                    .iter()
                    .skip(from)
                    .map(|r| format!("{} {} {}", r.method, r.path, r.status))
                    .collect();
                panic!("timed out waiting for {what}; requests since: {seen:#?}");
            }
        }
    }

    /// Waits for a frame from the bot with opcode `op`, at index `from` or later of all
    /// frames received.
    pub async fn wait_for_frame(&self, from: usize, op: u64) -> Value {
        let mut changed = self.state.received_changed.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            changed.borrow_and_update();
            if let Some(found) = lock(&self.state.received)
                .iter()
                .skip(from)
                .find(|frame| frame["op"] == op)
                .cloned()
            {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for a gateway frame with op {op}");
            }
        }
    }

    /// Every gateway frame received from the bot so far.
    pub fn frames(&self) -> Vec<Value> {
        lock(&self.state.received).clone()
    }

    /// The number of gateway frames received so far.
    pub fn frames_mark(&self) -> usize {
        lock(&self.state.received).len()
    }

    /// Waits until the bot is connected and its slash commands are registered: from then on
    /// it handles events.
    pub async fn wait_until_ready(&self) -> Recorded {
        self.wait_for_frame(0, 2).await;
        self.wait_for_request(0, "command registration", |request| {
            request.method == "PUT" && request.path.contains("/commands")
        })
        .await
    }

    /// Sends a dispatch event to the bot (queued for replay when no connection is up). Panics
    /// when serenity could not read it.
    pub fn dispatch(&self, event_name: &str, data: Value) -> u64 {
        let (seq, frame) = next_dispatch(&self.state, event_name, data);
        if let Err(problem) = validate(&frame) {
            panic!("the fake built a {event_name} serenity cannot read: {problem}\n{frame}");
        }
        if let Some(gateway) = lock(&self.state.gateway).as_ref() {
            let _ = gateway.send(Outgoing::Frame(frame));
        }
        seq
    }

    /// Closes the gateway connection with `code` (4000: "unknown error, reconnect", which
    /// Discord sends; 1001 when it restarts a gateway node).
    pub fn close_gateway(&self, code: u16) {
        if let Some(gateway) = lock(&self.state.gateway).take() {
            let _ = gateway.send(Outgoing::Close(code));
        }
    }

    /// Sends op 7 RECONNECT, Discord's "reconnect and resume" request.
    pub fn request_reconnect(&self) {
        let frame = json!({"op": 7, "d": null}).to_string();
        if let Err(problem) = validate(&frame) {
            panic!("serenity cannot read RECONNECT: {problem}");
        }
        if let Some(gateway) = lock(&self.state.gateway).as_ref() {
            let _ = gateway.send(Outgoing::Frame(frame));
        }
    }

    /// Panics when any request the bot sent so far is not valid by Discord's API description
    /// (also checked when the fake is dropped).
    pub fn assert_requests_valid(&self) {
        let off_spec = lock(&self.state.off_spec).clone();
        assert!(
            off_spec.is_empty(),
            "requests Discord's API description rejects:\n{}",
            off_spec.join("\n\n")
        );
    }

    /// Panics when any frame the fake sent was unreadable for serenity.
    pub fn assert_frames_valid(&self) {
        let invalid = lock(&self.state.invalid_frames).clone();
        assert!(
            invalid.is_empty(),
            "frames serenity cannot read: {invalid:#?}"
        );
    }
}

/// Checks that serenity reads `frame` as a known event.
pub fn validate(frame: &str) -> Result<(), String> {
    match serde_json::from_str::<GatewayEvent>(frame) {
        Ok(GatewayEvent::Dispatch(_, Event::Unknown(unknown))) => Err(format!(
            "serenity reads it as Event::Unknown ({}), so it would drop it: a required field is missing",
            unknown.kind
        )),
        Ok(_) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

fn next_dispatch(state: &FakeState, event_name: &str, data: Value) -> (u64, String) {
    let mut dispatched = lock(&state.dispatched);
    let seq = dispatched.last().map_or(1, |(seq, _)| seq + 1);
    let frame = json!({"op": 0, "t": event_name, "s": seq, "d": data}).to_string();
    dispatched.push((seq, frame.clone()));
    (seq, frame)
}

/// Sends a frame the fake built itself, recording it when serenity could not read it.
async fn send_checked(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    state: &FakeState,
    frame: String,
) -> bool {
    if let Err(problem) = validate(&frame) {
        lock(&state.invalid_frames).push(format!("{problem}: {frame}"));
    }
    sink.send(Message::Text(frame)).await.is_ok()
}

fn bot_user() -> Value {
    json!({
        "id": BOT_ID.to_string(),
        "username": "citebot",
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": true
    })
}

fn ready(state: &FakeState) -> Value {
    json!({
        "v": 10,
        "user": bot_user(),
        "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
        "session_id": SESSION_ID,
        "resume_gateway_url": format!("ws://{}/ws", state.address),
        "shard": [0, 1],
        "application": {"id": APP_ID.to_string(), "flags": 0}
    })
}

async fn gateway_upgrade(
    upgrade: WebSocketUpgrade,
    State(state): State<Arc<FakeState>>,
) -> Response {
    upgrade.on_upgrade(move |socket| run_gateway(socket, state))
}

async fn run_gateway(socket: WebSocket, state: Arc<FakeState>) {
    let (mut sink, mut stream) = socket.split();
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    *lock(&state.gateway) = Some(sender.clone());
    state.connections.fetch_add(1, Ordering::SeqCst);
    let hello = json!({"op": 10, "d": {"heartbeat_interval": state.heartbeat_interval_ms}});
    if !send_checked(&mut sink, &state, hello.to_string()).await {
        return;
    }
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                let op = frame["op"].as_u64();
                let resume_from = frame["d"]["seq"].as_u64();
                {
                    let mut received = lock(&state.received);
                    received.push(frame);
                    state.received_changed.send_replace(received.len());
                }
                let replies: Vec<String> = match op {
                    Some(1) => vec![json!({"op": 11}).to_string()],
                    Some(2) => vec![next_dispatch(&state, "READY", ready(&state)).1],
                    Some(6) => {
                        // Replay what the bot missed, then confirm, as Discord does.
                        let mut frames: Vec<String> = lock(&state.dispatched)
                            .iter()
                            .filter(|(seq, _)| *seq > resume_from.unwrap_or(0))
                            .map(|(_, frame)| frame.clone())
                            .collect();
                        frames.push(next_dispatch(&state, "RESUMED", json!({})).1);
                        frames
                    }
                    _ => Vec::new(),
                };
                let mut open = true;
                for frame in replies {
                    if !send_checked(&mut sink, &state, frame).await {
                        open = false;
                        break;
                    }
                }
                if !open {
                    break;
                }
            }
            command = outgoing.recv() => match command {
                Some(Outgoing::Frame(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code)) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame { code, reason: "fake discord closes".into() })))
                        .await;
                    break;
                }
                None => break,
            }
        }
    }
    let mut gateway = lock(&state.gateway);
    if gateway
        .as_ref()
        .is_some_and(|current| current.same_channel(&sender))
    {
        *gateway = None;
    }
}

/// Every REST request: recorded, then answered (scripted override first, else like Discord).
async fn rest(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Err(problem) = crate::discord_spec::check_request(method.as_str(), &path, &body_json) {
        lock(&state.off_spec).push(problem);
    }
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);

    let scripted = {
        let mut overrides = lock(&state.overrides);
        let found = overrides.iter_mut().find(|o| {
            o.remaining > 0 && o.method == method.as_str() && path.contains(&o.path_contains)
        });
        found.map(|o| {
            o.remaining -= 1;
            o.clone()
        })
    };
    let (status, extra_headers, response_body) = match scripted {
        Some(o) => (o.status, o.headers, Some(o.body)),
        None => {
            let (status, body) =
                default_response(&state, &method, &path, &body_json, authorization.as_deref());
            (status, Vec::new(), body)
        }
    };

    {
        let mut requests = lock(&state.requests);
        requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            body: body_json,
            authorization,
            status,
            at: Instant::now(),
        });
        state.requests_changed.send_replace(requests.len());
    }

    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match response_body {
        Some(body) => (status_code, axum::Json(body)).into_response(),
        None => status_code.into_response(),
    };
    for (name, value) in extra_headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn default_response(
    state: &FakeState,
    method: &Method,
    path: &str,
    body: &Value,
    authorization: Option<&str>,
) -> (u16, Option<Value>) {
    let route = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = route.trim_start_matches("/api/v10/").split('/').collect();
    let authorized = authorization == Some(&format!("Bot {TOKEN}"));
    let gateway_url = format!("ws://{}/ws", state.address);
    let id = || state.next_id.fetch_add(1, Ordering::SeqCst).to_string();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => (200, Some(json!({"url": gateway_url}))),
        ("GET", ["gateway", "bot"]) if !authorized => (
            401,
            Some(json!({"message": "401: Unauthorized", "code": 0})),
        ),
        ("GET", ["gateway", "bot"]) => (
            200,
            Some(json!({
                "url": gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            })),
        ),
        ("GET", ["oauth2", "applications", "@me"]) if !authorized => (
            401,
            Some(json!({"message": "401: Unauthorized", "code": 0})),
        ),
        ("GET", ["oauth2", "applications", "@me"]) => (
            200,
            Some(json!({
                "id": APP_ID.to_string(),
                "name": "citebot",
                "icon": null,
                "description": "",
                "bot_public": false,
                "bot_require_code_grant": false,
                "verify_key": "0".repeat(64),
                "flags": 0,
                "interactions_endpoint_url": null
            })),
        ),
        ("PUT", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            let guild = match segments.as_slice() {
                ["applications", _, "guilds", guild, "commands"] => Some(guild.to_string()),
                _ => None,
            };
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut command| {
                    command["id"] = json!(id());
                    command["application_id"] = json!(APP_ID.to_string());
                    command["version"] = json!("1");
                    command["guild_id"] = json!(guild);
                    if command.get("type").is_none() {
                        command["type"] = json!(1);
                    }
                    command["default_member_permissions"] = Value::Null;
                    command
                })
                .collect();
            (200, Some(Value::Array(commands)))
        }
        ("POST", ["channels", channel, "messages"]) => {
            (200, Some(message_json(&id(), channel, body)))
        }
        ("POST", ["channels", channel, "messages", _, "threads"]) => (
            201,
            Some(thread_json(
                &id(),
                channel,
                body["name"].as_str().unwrap_or("thread"),
            )),
        ),
        ("GET", ["channels", channel]) => (200, Some(text_channel_json(channel))),
        ("POST", ["interactions", _, _, "callback"]) => (204, None),
        ("POST", ["webhooks", _, _]) | ("PATCH" | "GET", ["webhooks", _, _, "messages", _]) => (
            200,
            Some(message_json(&id(), &CHANNEL_ID.to_string(), body)),
        ),
        _ => (404, Some(json!({"message": "404: Not Found", "code": 0}))),
    }
}

/// A message as Discord returns it, echoing the content and embeds that were sent.
pub fn message_json(id: &str, channel: &str, sent: &Value) -> Value {
    json!({
        "id": id,
        "channel_id": channel,
        "author": bot_user(),
        "content": sent["content"].as_str().unwrap_or_default(),
        "timestamp": "2024-05-01T12:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": sent.get("embeds").cloned().unwrap_or(json!([])),
        "pinned": false,
        "type": 0,
        "flags": 0
    })
}

fn thread_json(id: &str, parent: &str, name: &str) -> Value {
    json!({
        "id": id,
        "type": 11,
        "guild_id": GUILD_ID.to_string(),
        "parent_id": parent,
        "name": name,
        "owner_id": BOT_ID.to_string(),
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2024-05-01T12:00:00.000000+00:00",
            "locked": false
        },
        "flags": 0
    })
}

fn text_channel_json(id: &str) -> Value {
    json!({
        "id": id,
        "type": 0,
        "guild_id": GUILD_ID.to_string(),
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": false,
        "flags": 0
    })
}

/// A person in the guild.
pub fn member(user: &Value) -> Value {
    json!({
        "user": user,
        "roles": [],
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false,
        "mute": false,
        "flags": 0
    })
}

/// A user; `bot` marks other bots.
pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": bot
    })
}

/// MESSAGE_CREATE data: `content` in `channel` of the test guild (or a DM when `guild` is
/// false), by `author`, mentioning the users in `mentions`.
pub fn message_create(
    id: u64,
    channel: u64,
    guild: bool,
    author: Value,
    content: &str,
    mentions: &[Value],
) -> Value {
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": author,
        "content": content,
        "timestamp": "2024-05-01T12:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": content.contains("@everyone"),
        "mentions": mentions,
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0
    });
    if guild {
        message["guild_id"] = json!(GUILD_ID.to_string());
        message["member"] = json!({
            "roles": [],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0
        });
    }
    message
}

/// The bot, as it appears in a message's `mentions`.
pub fn bot_mention() -> Value {
    bot_user()
}

fn interaction_base(id: u64, token: &str, kind: u8, data: Value) -> Value {
    json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": GUILD_ID.to_string(),
        "channel": {"id": CHANNEL_ID.to_string(), "type": 0, "name": "general"},
        "channel_id": CHANNEL_ID.to_string(),
        "member": member(&user(USER_ID, "asker", false)),
        "token": token,
        "version": 1,
        "app_permissions": "2147483647",
        "locale": "en-GB",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": 10485760
    })
}

/// INTERACTION_CREATE data for a slash command with `options` (`[{"name","type","value"}]`).
pub fn slash_command(id: u64, token: &str, name: &str, options: Value) -> Value {
    interaction_base(
        id,
        token,
        2,
        json!({"id": "5000", "name": name, "type": 1, "options": options}),
    )
}

/// INTERACTION_CREATE data for autocompletion of `option` while `typed` is typed.
pub fn autocomplete(id: u64, token: &str, name: &str, option: &str, typed: &str) -> Value {
    interaction_base(
        id,
        token,
        4,
        json!({
            "id": "5001",
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 4, "value": typed, "focused": true}]
        }),
    )
}

/// INTERACTION_CREATE data for a press of button `custom_id` under `message`.
pub fn button_press(id: u64, token: &str, custom_id: &str, message: Value) -> Value {
    let mut interaction = interaction_base(
        id,
        token,
        3,
        json!({"custom_id": custom_id, "component_type": 2}),
    );
    interaction["message"] = message;
    interaction
}
