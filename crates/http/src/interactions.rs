//! `POST /interactions`: Discord's HTTP interactions endpoint. The signature is checked before
//! the body is parsed ([`super::signature`]); then PING gets PONG, and `/ask`, `/source`,
//! `/about`, `/source`'s autocomplete and the answer's buttons get the very replies the
//! gateway bot sends, from [`citebot_discord::answering`] and [`citebot_discord::render`].
//!
//! Discord waits 3 seconds for the response. An answer normally takes milliseconds and goes
//! out in the response itself (type 4); one not ready after `discord.defer_after_ms` is
//! deferred (type 5, "citebot is thinking…") and its original response edited through the
//! webhook on the API base when it is ready. The interaction's token authorises that edit,
//! so the server needs no bot token. At most `http.max_deferred` answers wait deferred at
//! once: they are held in memory only, and a replica that dies loses them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serenity::all::{
    AutocompleteChoice, CommandDataOptionValue, CommandInteraction, ComponentInteraction,
    CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseMessage,
    Interaction,
};
use tracing::{info, warn};

use citebot_discord::answering::{self, Asker};
use citebot_discord::render::{self, ButtonAction, Reply};
use citebot_discord::reply;
use citebot_discord::state::AskRecord;
use citebot_discord::BotError;

use super::metrics::{Surface, Verdict};
use super::{JsonResponse, Server};

/// The interaction types, as Discord numbers them.
const PING: u64 = 1;

/// Answers a verified interaction body. The body was signed by Discord, but is still parsed
/// with care: a payload citebot cannot read gets 400, never a panic.
pub async fn handle(server: Arc<Server>, body: &[u8]) -> JsonResponse {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return JsonResponse::error(400, format!("the body is not JSON: {error}")),
    };
    // PING is answered from its type alone, whatever else a future payload carries.
    if value.get("type").and_then(Value::as_u64) == Some(PING) {
        return JsonResponse::ok(&json!({"type": 1}));
    }
    let interaction: Interaction = match serde_json::from_value(value) {
        Ok(interaction) => interaction,
        Err(error) => {
            return JsonResponse::error(
                400,
                format!("not an interaction citebot can read: {error}"),
            )
        }
    };
    let result = match interaction {
        Interaction::Ping(_) => Ok(JsonResponse::ok(&json!({"type": 1}))),
        Interaction::Command(command) => command_response(&server, command).await,
        Interaction::Autocomplete(command) => Ok(autocomplete_response(&server, &command)),
        Interaction::Component(component) => component_response(&server, component).await,
        Interaction::Modal(_) => Ok(JsonResponse::error(
            400,
            "citebot opens no modal, so it answers none",
        )),
        _ => Ok(JsonResponse::error(
            400,
            "an interaction type citebot does not answer",
        )),
    };
    result.unwrap_or_else(|error| {
        warn!(%error, "interaction failed");
        message_response(&render::notice(
            "Sorry, something went wrong answering that. Please try again in a moment.",
        ))
    })
}

/// A reply as the interaction's response message (type 4).
fn message_response(reply: &Reply) -> JsonResponse {
    JsonResponse::ok(&CreateInteractionResponse::Message(
        reply::interaction_message(reply),
    ))
}

async fn command_response(
    server: &Arc<Server>,
    command: CommandInteraction,
) -> Result<JsonResponse, BotError> {
    let state = &server.bot;
    match command.data.name.as_str() {
        "ask" => ask(server, command).await,
        "source" => {
            let number = option(&command, "number")
                .and_then(|value| match value {
                    CommandDataOptionValue::Integer(n) => u32::try_from(*n).ok(),
                    _ => None,
                })
                .unwrap_or(0);
            Ok(message_response(&answering::source_reply(
                &state.library(),
                number,
            )))
        }
        "about" => Ok(message_response(&render::render_about(&state.library()))),
        other => Ok(message_response(&render::notice(&format!(
            "citebot has no /{} command: its commands are /ask, /source and /about.",
            render::truncate_at_word(other, 32)
        )))),
    }
}

fn option<'a>(command: &'a CommandInteraction, name: &str) -> Option<&'a CommandDataOptionValue> {
    command
        .data
        .options
        .iter()
        .find(|option| option.name == name)
        .map(|option| &option.value)
}

async fn ask(server: &Arc<Server>, command: CommandInteraction) -> Result<JsonResponse, BotError> {
    let started = Instant::now();
    let state = Arc::clone(&server.bot);
    let question = match option(&command, "question") {
        Some(CommandDataOptionValue::String(text)) => text.clone(),
        _ => String::new(),
    };
    let top = match option(&command, "top") {
        Some(CommandDataOptionValue::Integer(n)) => u8::try_from((*n).clamp(1, 5)).ok(),
        _ => None,
    };
    let asker = Asker {
        user_id: command.user.id.get(),
        in_guild: command.guild_id.is_some(),
        channel_id: command.channel_id.get(),
        parent_id: command
            .channel
            .as_ref()
            .and_then(|channel| channel.parent_id)
            .map(|id| id.get()),
    };
    if let Some(refusal) = answering::refusal(&state, asker).await? {
        server
            .metrics
            .question(Surface::Interaction, Verdict::Refused, None);
        return Ok(message_response(&refusal));
    }
    let emergency = state.emergency.is_emergency(&question);
    let ask_id = command.id.get();
    let page_size = state.page_size(top);
    let work_state = Arc::clone(&state);
    let counted = Arc::clone(server);
    let work = tokio::spawn(async move {
        let result = work_state
            .answer_page(ask_id, &question, 0, page_size, emergency)
            .await;
        if let Ok((answer, _)) = &result {
            work_state
                .asks
                .insert(ask_id, AskRecord::from_answer(answer, page_size, emergency));
            let verdict = if answer.answered() {
                Verdict::Answered
            } else {
                Verdict::NoAnswer
            };
            counted.metrics.question(
                Surface::Interaction,
                verdict,
                Some(started.elapsed().as_secs_f64()),
            );
            info!(
                ask = ask_id,
                surface = "http",
                answered = answer.answered(),
                emergency,
                took_ms = started.elapsed().as_secs_f64() * 1000.0,
                "answered"
            );
        }
        result.map(|(_, reply)| reply)
    });
    respond_or_defer(
        server,
        command.application_id.get(),
        &command.token,
        false,
        work,
    )
    .await
}

async fn component_response(
    server: &Arc<Server>,
    component: ComponentInteraction,
) -> Result<JsonResponse, BotError> {
    let Some(action) = ButtonAction::parse(&component.data.custom_id) else {
        return Ok(JsonResponse::error(400, "not one of citebot's buttons"));
    };
    let shown = answering::question_shown(&component.message);
    let state = Arc::clone(&server.bot);
    let user_id = component.user.id.get();
    let work =
        tokio::spawn(async move { answering::button_reply(&state, action, user_id, shown).await });
    respond_or_defer(
        server,
        component.application_id.get(),
        &component.token,
        true,
        work,
    )
    .await
}

fn autocomplete_response(server: &Server, command: &CommandInteraction) -> JsonResponse {
    let typed = command
        .data
        .autocomplete()
        .map(|option| option.value.to_string())
        .unwrap_or_default();
    let choices = if command.data.name == "source" {
        answering::source_choices(&server.bot.library(), &typed)
            .into_iter()
            .map(|(name, number)| AutocompleteChoice::new(name, number))
            .collect()
    } else {
        Vec::new()
    };
    JsonResponse::ok(&CreateInteractionResponse::Autocomplete(
        CreateAutocompleteResponse::new().set_choices(choices),
    ))
}

/// How long after an interaction arrives its response must be sent at the latest: Discord
/// drops one not acknowledged within 3 s, and the rest is the way back.
const ACKNOWLEDGE_WITHIN: Duration = Duration::from_millis(2500);

/// Answers with the reply when `work` finishes within `discord.defer_after_ms`; else answers
/// "deferred" at once and edits the original response through the webhook when it is done.
///
/// A deferred answer holds one of `http.max_deferred` permits until its edit is sent. When
/// none is free, the interaction keeps waiting for its answer (or a permit) until
/// [`ACKNOWLEDGE_WITHIN`]: the response is slower, so what is sent to an overloaded replica
/// is held back by its caller's concurrency instead of piling up in memory, where a replica
/// that dies would lose it. Only past that deadline is it deferred without a permit.
async fn respond_or_defer(
    server: &Arc<Server>,
    application_id: u64,
    token: &str,
    ephemeral: bool,
    mut work: tokio::task::JoinHandle<Result<Reply, BotError>>,
) -> Result<JsonResponse, BotError> {
    let arrived = Instant::now();
    let defer_after = Duration::from_millis(server.bot.settings.defer_after_ms);
    if !defer_after.is_zero() {
        if let Ok(joined) = tokio::time::timeout(defer_after, &mut work).await {
            let reply = joined.map_err(BotError::Task)??;
            return Ok(message_response(&reply));
        }
    }
    let permit = match Arc::clone(&server.deferred).try_acquire_owned() {
        Ok(permit) => Some(permit),
        Err(_) => {
            let deadline = tokio::time::Instant::from_std(arrived + ACKNOWLEDGE_WITHIN);
            tokio::select! {
                joined = &mut work => {
                    let reply = joined.map_err(BotError::Task)??;
                    return Ok(message_response(&reply));
                }
                permit = Arc::clone(&server.deferred).acquire_owned() => permit.ok(),
                () = tokio::time::sleep_until(deadline) => {
                    warn!(
                        max_deferred = server.settings.max_deferred,
                        "every deferred answer is taken and Discord's deadline is near: \
                         deferring one more"
                    );
                    None
                }
            }
        }
    };
    let url = format!(
        "{}/api/v10/webhooks/{application_id}/{token}/messages/@original",
        server.api_base
    );
    let client = server.webhook.clone();
    let bot = Arc::clone(&server.bot);
    tokio::spawn(async move {
        // Counted in flight until the edit is sent, so SIGTERM's drain waits for it too.
        let _busy = bot.in_flight.enter();
        let _permit = permit;
        let reply = match work.await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                warn!(%error, "deferred interaction failed");
                render::notice(
                    "Sorry, something went wrong answering that. Please try again in a moment.",
                )
            }
            Err(error) => {
                warn!(%error, "deferred interaction task failed");
                return;
            }
        };
        let edit = match serde_json::to_vec(&reply::edit_response(&reply)) {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(%error, "cannot encode the deferred answer");
                return;
            }
        };
        let request = client
            .patch(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(edit);
        match request.send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                warn!(
                    status = response.status().as_u16(),
                    "discord refused the deferred answer's edit"
                )
            }
            Err(error) => warn!(error = %error.without_url(), "cannot send the deferred answer"),
        }
    });
    let deferred = CreateInteractionResponse::Defer(
        CreateInteractionResponseMessage::new().ephemeral(ephemeral),
    );
    Ok(JsonResponse::ok(&deferred))
}
