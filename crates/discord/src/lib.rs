//! The Discord bot (`citebot bot`): serenity for the gateway and REST, poise for the slash
//! commands. A thin adapter over the engine: every answer is an [`citebot_core::answer::Answer`],
//! formatted by [`render`] and sent by [`reply`].
//!
//! Code map:
//! - [`settings`]: the `[discord]` section of `config.toml`; [`api_base`]: its API origin;
//! - [`http`]: where REST calls go, and the relay that handles 429s for a non-Discord API base;
//! - [`render`]: answers, references and notices as embeds and buttons, pure and tested;
//! - [`safety`]: markdown escaping, mention neutralising, cooldowns (the emergency check is
//!   `citebot_presentation::notices`, shared with the page and the JSON API);
//! - [`answering`]: what a slash command or button gets, from the gateway or over HTTP;
//! - [`commands`]: `/ask`, `/source`, `/about`; [`events`]: mentions, DMs and buttons;
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
pub mod events;
pub mod feedback;
pub mod http;
pub mod render;
pub mod reply;
pub mod safety;
pub mod state;

use std::future::Future;
use std::sync::{Arc, Mutex};

use poise::FrameworkError;
use serenity::all::{FullEvent, GatewayIntents, GuildId, Interaction};
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
    let commands = commands::all();
    let registered = match settings.guild_id {
        Some(guild) => {
            poise::builtins::register_in_guild(&rest.http, &commands, GuildId::new(guild)).await
        }
        None => poise::builtins::register_globally(&rest.http, &commands).await,
    };
    registered.map_err(|error| {
        BotError::Registration(error.to_string().replace(token.as_str(), "[token]"))
    })?;
    drop(rest.relay);
    Ok(Registration {
        application_name: application.name,
        application_id: application.id.get(),
        commands: commands.iter().map(|c| c.name.clone()).collect(),
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

    let startup_error: Arc<Mutex<Option<BotError>>> = Arc::new(Mutex::new(None));
    let framework = build_framework(
        Arc::clone(&state),
        settings.guild_id,
        Arc::clone(&startup_error),
    );
    let mut client = serenity::all::ClientBuilder::new_with_http(rest.http, intents())
        .framework(framework)
        .await?;
    *client.ws_url.lock().await = gateway.url;

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

fn build_framework(
    state: Data,
    guild_id: Option<u64>,
    startup_error: Arc<Mutex<Option<BotError>>>,
) -> poise::Framework<Data, BotError> {
    let options = poise::FrameworkOptions {
        commands: commands::all(),
        event_handler: |ctx, event, framework, data| {
            Box::pin(handle_event(ctx, event, framework.bot_id.get(), data))
        },
        on_error,
        // Nothing the bot sends pings anyone; builders set this too.
        allowed_mentions: Some(reply::no_mentions()),
        prefix_options: poise::PrefixFrameworkOptions {
            // Mentions are questions, not prefix commands.
            mention_as_prefix: false,
            ..Default::default()
        },
        // No owner-only commands: skip the application-info call.
        initialize_owners: false,
        ..Default::default()
    };
    poise::Framework::builder()
        .options(options)
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                let registered = match guild_id {
                    Some(guild) => {
                        poise::builtins::register_in_guild(ctx, commands, GuildId::new(guild)).await
                    }
                    None => poise::builtins::register_globally(ctx, commands).await,
                };
                if let Err(error) = registered {
                    error!(%error, "slash command registration failed, stopping");
                    let message = error.to_string();
                    *startup_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(BotError::Registration(message.clone()));
                    framework.shard_manager().shutdown_all().await;
                    return Err(BotError::Registration(message));
                }
                info!(
                    user = %ready.user.name,
                    guilds = ready.guilds.len(),
                    commands = commands.len(),
                    scope = if guild_id.is_some() { "guild" } else { "global" },
                    "ready, slash commands registered"
                );
                Ok(state)
            })
        })
        .build()
}

async fn handle_event(
    ctx: &serenity::all::Context,
    event: &FullEvent,
    bot_id: u64,
    data: &Data,
) -> Result<(), BotError> {
    let _busy = data.in_flight.enter();
    match event {
        FullEvent::Message { new_message } => {
            events::on_message(ctx, new_message, data, bot_id).await
        }
        FullEvent::InteractionCreate {
            interaction: Interaction::Component(component),
        } => events::on_component(ctx, component, data).await,
        FullEvent::Resume { .. } => {
            info!("gateway session resumed");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn on_error(error: FrameworkError<'_, Data, BotError>) -> poise::BoxFuture<'_, ()> {
    Box::pin(async move {
        match error {
            FrameworkError::Command { error, ctx, .. } => {
                error!(command = %ctx.command().name, %error, "command failed");
                let sorry = poise::CreateReply::default()
                    .content(
                        "Sorry, something went wrong answering that. Please try again in a moment.",
                    )
                    .ephemeral(true)
                    .allowed_mentions(reply::no_mentions());
                if let Err(error) = ctx.send(sorry).await {
                    warn!(%error, "cannot tell the user about the failure");
                }
            }
            FrameworkError::EventHandler { error, event, .. } => {
                error!(event = %event.snake_case_name(), %error, "event handling failed");
            }
            FrameworkError::Setup { error, .. } => {
                error!(%error, "bot setup failed");
            }
            other => {
                if let Err(error) = poise::builtins::on_error(other).await {
                    error!(%error, "error while handling an error");
                }
            }
        }
    })
}
