//! The Discord bot (`citebot bot`): serenity for the gateway, REST and the slash-command
//! builders. A thin adapter over the engine: every answer is an [`citebot_core::answer::Answer`],
//! formatted by [`render`] and sent by [`reply`].
//!
//! Code map:
//! - [`settings`]: the `[discord]` section of `config.toml`; [`api_base`]: its API origin;
//! - [`http`]: where REST calls go, and the relay that handles 429s for a non-Discord API base;
//! - [`render`]: answers, references and notices as embeds and buttons, pure and tested;
//! - [`safety`]: markdown escaping, mention neutralising, cooldowns (the emergency check is
//!   `citebot_presentation::notices`, shared with the page and the JSON API);
//! - [`answering`]: what a slash command or button gets, from the gateway or over HTTP;
//! - [`commands`]: the slash-command table (`/ask`, `/source`, `/about`, declared once, option
//!   names as constants), registered by the gateway bot and `citebot register`;
//! - [`dispatch`]: the one dispatcher of slash commands, autocompletion and buttons, for the
//!   gateway ([`Handler`]) and `citebot serve`'s `POST /interactions` alike;
//! - [`events`]: questions asked by mentioning the bot or in a DM;
//! - [`feedback`]: 👍/👎 in SQLite or a PostgreSQL shared by replicas (with the cooldowns),
//!   and `citebot feedback`;
//! - [`state`]: what handlers share; [`reply`]: rendered replies to serenity builders.
//!
//! Intents: only `GUILD_MESSAGES` and `DIRECT_MESSAGES`. Discord delivers the content of a
//! message that mentions the bot, and of every DM, without the privileged `MESSAGE_CONTENT`
//! intent, and those are the only messages the bot reads; slash commands and buttons arrive as
//! interactions, which need no intent at all.

pub mod api_base;
pub mod settings;

pub use settings::DiscordSettings;

pub mod answering;
pub mod commands;
pub mod dispatch;
pub mod events;
pub mod feedback;
pub mod http;
pub mod render;
pub mod reply;
pub mod safety;
pub mod state;

use std::future::Future;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use serenity::all::{
    Command, Context, CreateInteractionResponse, CreateInteractionResponseMessage, EventHandler,
    GatewayIntents, GuildId, Interaction, InteractionId, Message, Ready, ResumedEvent,
    ShardManager,
};
use tracing::{error, info, warn};

use state::{BotState, Data};

use citebot_core::config::Config;
use citebot_core::engine::Engine;

/// Why the bot stopped or could not start. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("the environment variable {var} holding the Discord bot token is not set: export {var}=<token> (Developer Portal → your application → Bot → Reset Token), or name another variable in discord.token_env")]
    TokenMissing { var: String },
    #[error("discord rejected the bot token from {var}: copy a fresh token from the Developer Portal (Bot → Reset Token)")]
    TokenRejected { var: String },
    #[error("config: {0}")]
    Config(String),
    #[error("discord api base: {0}")]
    ApiBase(#[from] http::ApiBaseError),
    #[error(transparent)]
    Rest(#[from] http::RestSetupError),
    #[error("cannot reach the discord api at {api_base}: {message} (check the network, or discord.api_base / CITEBOT_DISCORD_API_BASE)")]
    Unreachable { api_base: String, message: String },
    #[error("cannot register the slash commands: {0}")]
    Registration(String),
    #[error(transparent)]
    Engine(#[from] citebot_core::Error),
    #[error(transparent)]
    Feedback(#[from] feedback::FeedbackError),
    #[error("{var}: {source}")]
    FeedbackLocation {
        var: &'static str,
        #[source]
        source: settings::FeedbackLocationError,
    },
    #[error("discord: {0}")]
    Discord(#[from] serenity::Error),
    #[error("a background task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl BotError {
    /// Whether starting again later may succeed: Discord or the database not reachable yet, or
    /// the connection lost, may pass; a missing or rejected token or a bad setting will not.
    pub fn class(&self) -> citebot_core::error::ErrorClass {
        use citebot_core::error::ErrorClass;
        match self {
            BotError::Unreachable { .. } => ErrorClass::Transient,
            BotError::Engine(error) => error.class(),
            BotError::Feedback(error) => error.class(),
            BotError::Discord(serenity::Error::Io(error)) => ErrorClass::of_io(error),
            BotError::Discord(
                serenity::Error::Tungstenite(_)
                | serenity::Error::Http(serenity::http::HttpError::Request(_)),
            ) => ErrorClass::Transient,
            BotError::TokenMissing { .. }
            | BotError::TokenRejected { .. }
            | BotError::Config(_)
            | BotError::ApiBase(_)
            | BotError::Rest(_)
            | BotError::Registration(_)
            | BotError::FeedbackLocation { .. }
            | BotError::Discord(_)
            | BotError::Task(_) => ErrorClass::Permanent,
        }
    }
}

/// The gateway intents the bot asks for (see the module docs for why).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES
}

/// `citebot bot`: opens the engine, reads the token from the environment, and runs until
/// Ctrl-C or SIGTERM.
pub async fn run(config: Config, settings: DiscordSettings) -> Result<(), BotError> {
    settings.validate().map_err(BotError::Config)?;
    let token = read_token(&settings)?;
    let engine = tokio::task::spawn_blocking(move || Engine::open(&config))
        .await
        .map_err(BotError::Task)??;
    run_with(Arc::new(engine), settings, token, shutdown_signal()).await
}

/// The bot token: from the file named in the config (a Docker or systemd secret) when there
/// is one, else from the environment variable. Never logged.
// BotError is as large as serenity's error, which it carries; this runs once, at start-up.
#[allow(clippy::result_large_err)]
fn read_token(settings: &DiscordSettings) -> Result<String, BotError> {
    let from_file = match &settings.token_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
            BotError::Config(format!(
                "discord.token_file {} cannot be read ({error}): create it with the bot token, or remove the setting to use {}",
                path.display(),
                settings.token_env
            ))
        })?),
        None => None,
    };
    from_file
        .or_else(|| std::env::var(&settings.token_env).ok())
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| BotError::TokenMissing {
            var: settings.token_env.clone(),
        })
}

/// The error of the first REST call made with the token (`citebot bot`'s gateway lookup,
/// `citebot register`'s application record): 401 means the token was rejected; anything else
/// means the API could not be reached. The API's text is passed on, but a server or proxy may
/// echo the request's Authorization header in it, so the token is blanked out of it.
fn first_call_failed(
    error: serenity::Error,
    token: &str,
    settings: &DiscordSettings,
    api_base: &http::ApiBase,
) -> BotError {
    match error {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response))
            if response.status_code == 401 =>
        {
            BotError::TokenRejected {
                var: settings.token_env.clone(),
            }
        }
        error => BotError::Unreachable {
            api_base: api_base.to_string(),
            message: error.to_string().replace(token, "[token]"),
        },
    }
}

/// What `citebot register` did.
#[derive(Debug)]
pub struct Registration {
    pub application_name: String,
    pub application_id: u64,
    /// The command names, as registered.
    pub commands: Vec<String>,
    /// The guild they were registered in; `None`: globally.
    pub guild_id: Option<u64>,
    /// The application's Interactions Endpoint URL as Discord has it, if set.
    pub interactions_endpoint_url: Option<String>,
}

/// `citebot register`: registers the slash commands over REST alone, with no gateway
/// connection, for deployments that run only `citebot serve` (the gateway bot registers them
/// itself at start-up). Registering replaces the application's commands with citebot's, so it
/// is idempotent.
pub async fn register(settings: DiscordSettings) -> Result<Registration, BotError> {
    settings.validate().map_err(BotError::Config)?;
    let token = read_token(&settings)?;
    let api_base = http::ApiBase::parse(&settings.effective_api_base())?;
    let rest = http::connect_rest(&token, &api_base, http::RetryPolicy::default()).await?;
    // The application's own record gives its id (which creating commands needs, and which a
    // gateway client would learn from Ready) and checks the token first.
    let application = rest
        .http
        .get_current_application_info()
        .await
        .map_err(|error| first_call_failed(error, &token, &settings, &api_base))?;
    rest.http.set_application_id(application.id);
    register_commands(&rest.http, settings.guild_id)
        .await
        .map_err(|error| {
            BotError::Registration(error.to_string().replace(token.as_str(), "[token]"))
        })?;
    drop(rest.relay);
    Ok(Registration {
        application_name: application.name,
        application_id: application.id.get(),
        commands: commands::names(),
        guild_id: settings.guild_id,
        interactions_endpoint_url: application.interactions_endpoint_url,
    })
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (what `systemctl stop` and `docker stop` send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("ctrl-c received"),
        () = terminate => info!("sigterm received"),
    }
}

/// Runs the bot with an opened engine until `shutdown` resolves (tests pass a channel here).
/// The token is never logged.
pub async fn run_with(
    engine: Arc<Engine>,
    settings: DiscordSettings,
    token: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BotError> {
    settings.validate().map_err(BotError::Config)?;
    let api_base = http::ApiBase::parse(&settings.effective_api_base())?;
    let feedback_location =
        settings
            .effective_feedback_db()
            .map_err(|source| BotError::FeedbackLocation {
                var: settings::FEEDBACK_DB_ENV,
                source,
            })?;
    info!(feedback = %feedback_location, "opening the feedback store");
    let feedback =
        tokio::task::spawn_blocking(move || feedback::FeedbackStore::open(&feedback_location))
            .await
            .map_err(BotError::Task)??;
    let state_engine = Arc::clone(&engine);
    let state_settings = settings.clone();
    let state: Data = tokio::task::spawn_blocking(move || {
        Arc::new(BotState::new(
            state_engine,
            state_settings,
            Arc::new(feedback),
        ))
    })
    .await
    .map_err(BotError::Task)?;

    let rest = http::connect_rest(&token, &api_base, http::RetryPolicy::default()).await?;
    // Asking for the gateway with the token checks the token before anything else, and gives
    // the gateway URL of this API base: serenity would otherwise fall back to the real
    // gateway when its own lookup fails.
    let gateway = rest
        .http
        .get_bot_gateway()
        .await
        .map_err(|error| first_call_failed(error, &token, &settings, &api_base))?;
    info!(api_base = %api_base, relay = rest.relay.is_some(), intents = ?intents(), "connecting to discord");

    let handler = Handler::new(Arc::clone(&state), settings.guild_id);
    let startup_error = Arc::clone(&handler.startup_error);
    let shards = Arc::clone(&handler.shards);
    let mut client = serenity::all::ClientBuilder::new_with_http(rest.http, intents())
        .event_handler(handler)
        .await?;
    *client.ws_url.lock().await = gateway.url;
    let _ = shards.set(Arc::clone(&client.shard_manager));

    let shard_manager = Arc::clone(&client.shard_manager);
    let stopper = tokio::spawn(async move {
        shutdown.await;
        info!("shutting down");
        shard_manager.shutdown_all().await;
    });
    let reloader = tokio::spawn(reload_periodically(Arc::clone(&state), || {}));

    // serenity's shard range is inclusive of its end, as ShardPlan's is.
    let result = match settings.shard_plan().map_err(BotError::Config)? {
        settings::ShardPlan::Auto => client.start_autosharded().await,
        settings::ShardPlan::Range { first, last, total } => {
            info!(first, last, total, "running shards");
            client.start_shard_range(first..last, total).await
        }
    };
    stopper.abort();
    reloader.abort();
    // Let answers being written go out before the process ends.
    if tokio::time::timeout(SHUTDOWN_GRACE, state.in_flight.drained())
        .await
        .is_err()
    {
        warn!("answers still in flight at shutdown, leaving them");
    }
    // Keep the relay alive until the client is done with it.
    drop(rest.relay);
    let startup_error = startup_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(error) = startup_error {
        return Err(error);
    }
    match result {
        Ok(()) => {
            info!("bot stopped");
            Ok(())
        }
        Err(serenity::Error::Gateway(serenity::gateway::GatewayError::InvalidAuthentication)) => {
            Err(BotError::TokenRejected {
                var: settings.token_env,
            })
        }
        Err(error) => Err(BotError::Discord(error)),
    }
}

/// How long shutdown waits for answers already being written.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Calls `reload_if_changed` every `reload_interval_seconds`, so `citebot index` run while the
/// bot (or `citebot serve`) is up takes effect without a restart.
/// `on_reload` runs after each switch (`citebot serve` reports it in its metrics).
pub async fn reload_periodically(state: Data, on_reload: impl Fn() + Send + Sync + 'static) {
    let mut ticker = tokio::time::interval(state.settings.reload_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; the engine was just opened
    loop {
        ticker.tick().await;
        let state = Arc::clone(&state);
        match tokio::task::spawn_blocking(move || state.reload_if_changed()).await {
            Ok(true) => on_reload(),
            Ok(false) => {}
            Err(error) => warn!(%error, "index reload task failed"),
        }
    }
}

/// Registers the table's slash commands ([`commands::definitions`]): in the guild when one is
/// configured (they show at once), else globally. Registering replaces the application's
/// commands, so doing it again is harmless.
pub async fn register_commands(
    http: &serenity::http::Http,
    guild_id: Option<u64>,
) -> Result<(), serenity::Error> {
    let commands = commands::definitions();
    match guild_id {
        Some(guild) => GuildId::new(guild).set_commands(http, commands).await?,
        None => Command::set_global_commands(http, commands).await?,
    };
    Ok(())
}

/// The gateway bot's event handler: registers the commands at the first READY, answers
/// mentions and DMs ([`events`]), and hands every interaction to the one dispatcher
/// ([`dispatch`]), sending what it decides over REST.
pub struct Handler {
    state: Data,
    guild_id: Option<u64>,
    surface: dispatch::Surface,
    /// Whether a READY already registered the commands (each shard gets one).
    registered: std::sync::atomic::AtomicBool,
    /// Why the bot must stop: a failed registration (read by `run_with` once stopped).
    startup_error: Arc<Mutex<Option<BotError>>>,
    /// The client's shards, to stop them all when registration fails.
    shards: Arc<std::sync::OnceLock<Arc<ShardManager>>>,
}

impl Handler {
    pub fn new(state: Data, guild_id: Option<u64>) -> Handler {
        Handler {
            state,
            guild_id,
            surface: dispatch::Surface {
                name: "slash",
                on_question: None,
            },
            registered: std::sync::atomic::AtomicBool::new(false),
            startup_error: Arc::new(Mutex::new(None)),
            shards: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Answers an interaction over REST. A failure is logged and the person told, as the
    /// response or, once a response was sent, as an ephemeral follow-up.
    async fn interaction(&self, ctx: &Context, interaction: &Interaction) {
        let (id, token) = match interaction {
            Interaction::Command(command) | Interaction::Autocomplete(command) => {
                (command.id, command.token.as_str())
            }
            Interaction::Component(component) => (component.id, component.token.as_str()),
            _ => return,
        };
        let mut responded = false;
        let Err(error) = self
            .answer(ctx, interaction, id, token, &mut responded)
            .await
        else {
            return;
        };
        match interaction {
            Interaction::Command(command) => {
                error!(command = %command.data.name, %error, "command failed")
            }
            _ => error!(event = "interaction_create", %error, "event handling failed"),
        }
        let sorry = dispatch::sorry();
        let told = if responded {
            ctx.http
                .create_followup_message(token, &reply::followup(&sorry), Vec::new())
                .await
                .map(drop)
        } else {
            ctx.http
                .create_interaction_response(
                    id,
                    token,
                    &CreateInteractionResponse::Message(reply::interaction_message(&sorry)),
                    Vec::new(),
                )
                .await
        };
        if let Err(error) = told {
            warn!(%error, "cannot tell the user about the failure");
        }
    }

    async fn answer(
        &self,
        ctx: &Context,
        interaction: &Interaction,
        id: InteractionId,
        token: &str,
        responded: &mut bool,
    ) -> Result<(), BotError> {
        let http = &ctx.http;
        let response = match dispatch::dispatch(&self.state, interaction, &self.surface).await? {
            dispatch::Response::NotOurs(_) => return Ok(()),
            dispatch::Response::Message(reply) => {
                CreateInteractionResponse::Message(reply::interaction_message(&reply))
            }
            dispatch::Response::Choices(choices) => {
                CreateInteractionResponse::Autocomplete(reply::choices(choices))
            }
            dispatch::Response::Pending(mut pending) => {
                let defer_after = Duration::from_millis(self.state.settings.defer_after_ms);
                let question = pending.question.clone();
                match pending.ready_within(defer_after).await {
                    Some(reply) => {
                        let reply = reply?;
                        http.create_interaction_response(
                            id,
                            token,
                            &CreateInteractionResponse::Message(reply::interaction_message(&reply)),
                            Vec::new(),
                        )
                        .await?;
                        *responded = true;
                    }
                    None => {
                        let mut deferred = CreateInteractionResponseMessage::new();
                        if pending.ephemeral {
                            deferred = deferred.ephemeral(true);
                        }
                        http.create_interaction_response(
                            id,
                            token,
                            &CreateInteractionResponse::Defer(deferred),
                            Vec::new(),
                        )
                        .await?;
                        *responded = true;
                        let reply = pending.finish().await?;
                        http.edit_original_interaction_response(
                            token,
                            &reply::edit_response(&reply),
                            Vec::new(),
                        )
                        .await?;
                    }
                }
                if let Some(question) = question {
                    self.thread_on_answer(ctx, interaction, token, &question)
                        .await;
                }
                return Ok(());
            }
        };
        http.create_interaction_response(id, token, &response, Vec::new())
            .await?;
        *responded = true;
        Ok(())
    }

    /// With `thread_per_question`, a thread starts from a slash command's answer in a server
    /// channel (not in a thread), so the discussion of it has a place of its own.
    async fn thread_on_answer(
        &self,
        ctx: &Context,
        interaction: &Interaction,
        token: &str,
        question: &str,
    ) {
        let Interaction::Command(command) = interaction else {
            return;
        };
        let in_thread = command
            .channel
            .as_ref()
            .is_some_and(|channel| channel.thread_metadata.is_some());
        if !self.state.settings.thread_per_question || command.guild_id.is_none() || in_thread {
            return;
        }
        let started = match ctx.http.get_original_interaction_response(token).await {
            Ok(message) => {
                events::start_thread(ctx, message.channel_id, message.id.get(), question)
                    .await
                    .map(drop)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = started {
            warn!(%error, "cannot start a thread on the answer");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        if self
            .registered
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if let Err(error) = register_commands(&ctx.http, self.guild_id).await {
            error!(%error, "slash command registration failed, stopping");
            *self
                .startup_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(BotError::Registration(error.to_string()));
            if let Some(shards) = self.shards.get() {
                shards.shutdown_all().await;
            }
            return;
        }
        info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            commands = commands::names().len(),
            scope = if self.guild_id.is_some() { "guild" } else { "global" },
            "ready, slash commands registered"
        );
    }

    async fn message(&self, ctx: Context, new_message: Message) {
        let _busy = self.state.in_flight.enter();
        // The cache holds the bot's own user from READY on (serenity updates it before any
        // handler runs).
        let bot_id = ctx.cache.current_user().id.get();
        if let Err(error) = events::on_message(&ctx, &new_message, &self.state, bot_id).await {
            error!(event = "message", %error, "event handling failed");
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let _busy = self.state.in_flight.enter();
        self.interaction(&ctx, &interaction).await;
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        info!("gateway session resumed");
    }
}
