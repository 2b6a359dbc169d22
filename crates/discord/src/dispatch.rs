//! The one dispatcher of interactions: a slash command, an autocompletion or a button press,
//! whether it came over the gateway (`lib.rs`'s event handler) or was posted to
//! `citebot serve`'s `POST /interactions` (`citebot-http`). Both hand serenity's
//! [`Interaction`] to [`dispatch`] and send the [`Response`] it gives back their own way: the
//! gateway over REST, the server in its HTTP response. What a person sees is decided here once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serenity::all::{ChannelId, Interaction};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::answering::{self, Asker};
use super::commands::{self, Completion, Invocation};
use super::render::{self, ButtonAction, Reply};
use super::state::{AskRecord, Data};
use super::BotError;

/// The reply a person gets when answering failed, from either surface.
pub const SORRY: &str = "Sorry, something went wrong answering that. Please try again in a moment.";

/// The reply to an interaction that could not be answered.
pub fn sorry() -> Reply {
    render::notice(SORRY)
}

/// What to send back for an interaction.
#[derive(Debug)]
pub enum Response {
    /// A message, at once (interaction response type 4).
    Message(Reply),
    /// Autocomplete choices, as (name, value) (type 8).
    Choices(Vec<(String, u32)>),
    /// An answer being worked out: sent as the response when it is ready within
    /// `discord.defer_after_ms`, else deferred (type 5) and the original response edited.
    Pending(Pending),
    /// Nothing citebot answers (another application's button, a modal, an unknown type): the
    /// gateway lets it be, the server answers 400 with this reason.
    NotOurs(&'static str),
}

/// An answer still being worked out, and where it goes.
#[derive(Debug)]
pub struct Pending {
    pub work: JoinHandle<Result<Reply, BotError>>,
    /// Deferred as visible to the presser only (buttons).
    pub ephemeral: bool,
    /// The interaction's application and token: a deferred answer's edit needs them.
    pub application_id: u64,
    pub token: String,
    /// `/ask`'s question (the gateway starts a thread on the answer with it).
    pub question: Option<String>,
}

impl Pending {
    /// The reply, when the work finishes within `within` (never, when `within` is zero).
    pub async fn ready_within(&mut self, within: Duration) -> Option<Result<Reply, BotError>> {
        if within.is_zero() {
            return None;
        }
        match tokio::time::timeout(within, &mut self.work).await {
            Ok(Ok(reply)) => Some(reply),
            Ok(Err(joined)) => Some(Err(BotError::Task(joined))),
            Err(_) => None,
        }
    }

    /// The reply, however long it takes.
    pub async fn finish(self) -> Result<Reply, BotError> {
        self.work.await.map_err(BotError::Task)?
    }
}

/// How a question ended, for a surface that counts them (`citebot serve`'s metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuestionOutcome {
    /// Refused: a channel off the allow-list, or within the cooldown.
    Refused,
    /// Answered (`answered`) or honestly not, in `took`.
    Done { answered: bool, took: Duration },
}

/// Which surface is dispatching: its name in the logs and what it counts.
#[derive(Clone)]
pub struct Surface {
    /// `"slash"` for the gateway, `"http"` for `citebot serve`.
    pub name: &'static str,
    pub on_question: Option<Arc<dyn Fn(QuestionOutcome) + Send + Sync>>,
}

impl Surface {
    fn count(&self, outcome: QuestionOutcome) {
        if let Some(hook) = &self.on_question {
            hook(outcome);
        }
    }
}

/// Decides the response to `interaction`. An `Err` means answering failed: the surface sends
/// [`sorry`] and logs the error.
pub async fn dispatch(
    state: &Data,
    interaction: &Interaction,
    surface: &Surface,
) -> Result<Response, BotError> {
    match interaction {
        Interaction::Command(command) => {
            let asker = Asker {
                user_id: command.user.id.get(),
                in_guild: command.guild_id.is_some(),
                channel_id: command.channel_id.get(),
                parent_id: command
                    .channel
                    .as_ref()
                    .and_then(|channel| channel.parent_id)
                    .map(ChannelId::get),
            };
            let target = (
                command.id.get(),
                command.application_id.get(),
                &command.token,
            );
            run(
                state,
                Invocation::parse(&command.data),
                asker,
                target,
                surface,
            )
            .await
        }
        Interaction::Autocomplete(command) => {
            Ok(Response::Choices(match Completion::parse(&command.data) {
                Completion::SourceNumber { typed } => {
                    answering::source_choices(&state.library(), &typed)
                }
                Completion::Nothing => Vec::new(),
            }))
        }
        Interaction::Component(component) => {
            let Some(action) = ButtonAction::parse(&component.data.custom_id) else {
                debug!(custom_id = %component.data.custom_id, "button of another app");
                return Ok(Response::NotOurs("not one of citebot's buttons"));
            };
            let shown = answering::question_shown(&component.message);
            let user_id = component.user.id.get();
            let state = Arc::clone(state);
            let work = tokio::spawn(async move {
                let _busy = state.in_flight.enter();
                answering::button_reply(&state, action, user_id, shown).await
            });
            Ok(Response::Pending(Pending {
                work,
                ephemeral: true,
                application_id: component.application_id.get(),
                token: component.token.clone(),
                question: None,
            }))
        }
        Interaction::Modal(_) => Ok(Response::NotOurs(
            "citebot opens no modal, so it answers none",
        )),
        _ => Ok(Response::NotOurs(
            "an interaction type citebot does not answer",
        )),
    }
}

/// A slash command, read by the table.
async fn run(
    state: &Data,
    invocation: Invocation,
    asker: Asker,
    (interaction_id, application_id, token): (u64, u64, &String),
    surface: &Surface,
) -> Result<Response, BotError> {
    match invocation {
        Invocation::Ask { question, top } => {
            let started = Instant::now();
            if let Some(refusal) = answering::refusal(state, asker).await? {
                surface.count(QuestionOutcome::Refused);
                return Ok(Response::Message(refusal));
            }
            let emergency = state.emergency.is_emergency(&question);
            let ask_id = interaction_id;
            let page_size = state.page_size(top);
            let work_state = Arc::clone(state);
            let work_surface = surface.clone();
            let asked = question.clone();
            // Discord drops an interaction not acknowledged within 3 s. Answering takes
            // milliseconds, so the answer normally goes out at once; the surface defers it
            // when it is slow (a busy machine, an index being reloaded).
            let work = tokio::spawn(async move {
                let _busy = work_state.in_flight.enter();
                let (answer, reply) = work_state
                    .answer_page(ask_id, &asked, 0, page_size, emergency)
                    .await?;
                work_state.asks.insert(
                    ask_id,
                    AskRecord::from_answer(&answer, page_size, emergency),
                );
                work_surface.count(QuestionOutcome::Done {
                    answered: answer.answered(),
                    took: started.elapsed(),
                });
                info!(
                    ask = ask_id,
                    surface = work_surface.name,
                    answered = answer.answered(),
                    emergency,
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "answered"
                );
                Ok(reply)
            });
            Ok(Response::Pending(Pending {
                work,
                ephemeral: false,
                application_id,
                token: token.clone(),
                question: Some(question),
            }))
        }
        Invocation::Source { number } => Ok(Response::Message(answering::source_reply(
            &state.library(),
            number,
        ))),
        Invocation::About => Ok(Response::Message(render::render_about(&state.library()))),
        Invocation::Unknown { name } => Ok(Response::Message(render::notice(&format!(
            "citebot has no /{} command: its commands are {}.",
            render::truncate_at_word(&name, 32),
            command_list()
        )))),
    }
}

/// "/ask, /source and /about", from the table.
fn command_list() -> String {
    let names: Vec<String> = commands::names()
        .into_iter()
        .map(|name| format!("/{name}"))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_list_reads_like_before() {
        assert_eq!(super::command_list(), "/ask, /source and /about");
    }
}
