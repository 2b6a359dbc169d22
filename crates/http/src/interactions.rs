//! `POST /interactions`: Discord's HTTP interactions endpoint. The signature is checked before
//! the body is parsed ([`super::signature`]); then PING gets PONG, and every other
//! interaction (`/ask`, `/source`, `/about`, `/source`'s autocomplete, the answer's buttons)
//! goes to the dispatcher the gateway bot uses, [`citebot_discord::dispatch`], so it gets the
//! very reply the gateway bot sends; this module only puts it in the HTTP response.
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
use serenity::all::{CreateInteractionResponse, CreateInteractionResponseMessage, Interaction};
use tracing::warn;

use citebot_discord::dispatch::{self, Pending, QuestionOutcome, Response};
use citebot_discord::render::Reply;
use citebot_discord::reply;
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
    if let Interaction::Ping(_) = interaction {
        return JsonResponse::ok(&json!({"type": 1}));
    }
    let counted = Arc::clone(&server);
    let surface = dispatch::Surface {
        name: "http",
        on_question: Some(Arc::new(move |outcome| match outcome {
            QuestionOutcome::Refused => {
                counted
                    .metrics
                    .question(Surface::Interaction, Verdict::Refused, None)
            }
            QuestionOutcome::Done { answered, took } => counted.metrics.question(
                Surface::Interaction,
                if answered {
                    Verdict::Answered
                } else {
                    Verdict::NoAnswer
                },
                Some(took.as_secs_f64()),
            ),
        })),
    };
    let result = match dispatch::dispatch(&server.bot, &interaction, &surface).await {
        Ok(Response::Message(reply)) => Ok(message_response(&reply)),
        Ok(Response::Choices(choices)) => Ok(JsonResponse::ok(
            &CreateInteractionResponse::Autocomplete(reply::choices(choices)),
        )),
        Ok(Response::Pending(pending)) => respond_or_defer(&server, pending).await,
        Ok(Response::NotOurs(why)) => Ok(JsonResponse::error(400, why)),
        Err(error) => Err(error),
    };
    result.unwrap_or_else(|error| {
        warn!(%error, "interaction failed");
        message_response(&dispatch::sorry())
    })
}

/// A reply as the interaction's response message (type 4).
fn message_response(reply: &Reply) -> JsonResponse {
    JsonResponse::ok(&CreateInteractionResponse::Message(
        reply::interaction_message(reply),
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
    mut pending: Pending,
) -> Result<JsonResponse, BotError> {
    let arrived = Instant::now();
    let defer_after = Duration::from_millis(server.bot.settings.defer_after_ms);
    if let Some(reply) = pending.ready_within(defer_after).await {
        return Ok(message_response(&reply?));
    }
    let Pending {
        mut work,
        ephemeral,
        application_id,
        token,
        ..
    } = pending;
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
                dispatch::sorry()
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
