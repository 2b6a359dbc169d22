//! What the bot answers, whichever way a slash command or a button press arrived: over the
//! gateway ([`super::commands`], [`super::events`]) or as an HTTP interaction posted to
//! `citebot serve` (`citebot-http`). Both surfaces call these functions and send the
//! [`Reply`] they return, so a person gets the same answer from either.

use std::sync::Arc;
use tracing::info;

use super::events::cooldown_notice;
use super::feedback::Vote;
use super::render::{self, notice, ButtonAction, Library, Reply};
use super::safety::CooldownCheck;
use super::state::{AskRecord, BotState};
use super::BotError;
use citebot_core::citation::RefNumber;

/// Who asked, and where: what the channel allow-list and the cooldown look at.
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    pub user_id: u64,
    /// Asked in a server (DMs are always answered).
    pub in_guild: bool,
    pub channel_id: u64,
    /// The channel a thread belongs to, when the question was asked in a thread.
    pub parent_id: Option<u64>,
}

/// The notice a slash-command question gets instead of an answer: asked in a channel not on
/// the allow-list, or within the person's cooldown. `None`: answer it.
pub async fn refusal(state: &BotState, asker: Asker) -> Result<Option<Reply>, BotError> {
    if asker.in_guild && !state.channels.allows(asker.channel_id, asker.parent_id) {
        let places: Vec<String> = state
            .channels
            .allowed()
            .iter()
            .map(|id| format!("<#{id}>"))
            .collect();
        return Ok(Some(notice(&format!(
            "citebot answers in {} and in direct messages.",
            places.join(", ")
        ))));
    }
    // In memory, or in PostgreSQL when replicas share it (see BotState::check_cooldown).
    if let CooldownCheck::Wait { remaining, .. } = state.check_cooldown(asker.user_id).await? {
        return Ok(Some(cooldown_notice(remaining)));
    }
    Ok(None)
}

/// `/source number:N`: the reference in full, from the first article that has it.
pub fn source_reply(library: &Library, number: u32) -> Reply {
    let found = library.articles.iter().find_map(|article| {
        library
            .citation(&article.slug, RefNumber(number))
            .map(|citation| (article, citation))
    });
    match found {
        Some((article, citation)) => render::render_source(citation, Some(article)),
        None => {
            let last = library
                .citations
                .values()
                .flat_map(|list| list.iter().map(|c| c.number.0))
                .max()
                .unwrap_or(0);
            notice(&format!(
                "The article has no reference {number}: its references are numbered 1 to {last}."
            ))
        }
    }
}

/// `/source`'s autocomplete: references matching what has been typed so far.
pub fn source_choices(library: &Library, typed: &str) -> Vec<(String, u32)> {
    let citations: Vec<_> = library
        .articles
        .iter()
        .filter_map(|article| library.citations.get(&article.slug))
        .flatten()
        .cloned()
        .collect();
    render::source_choices(&citations, typed)
}

/// A button under an answer: more passages, the references, or a vote. `question_shown` is
/// the question as the answer's embed shows it, used when this process does not remember the
/// ask (after a restart, or when another replica answered it).
pub async fn button_reply(
    state: &Arc<BotState>,
    action: ButtonAction,
    user_id: u64,
    question_shown: Option<String>,
) -> Result<Reply, BotError> {
    let ask = match action {
        ButtonAction::More { ask, .. }
        | ButtonAction::References { ask, .. }
        | ButtonAction::Vote { ask, .. } => ask,
    };
    let Some(record) = recall(state, ask, question_shown).await? else {
        return Ok(notice(
            "This answer is too old for its buttons. Please ask the question again.",
        ));
    };
    Ok(match action {
        ButtonAction::More { offset, .. } => {
            let (_, mut page) = state
                .answer_page(ask, &record.question, offset, record.page_size, false)
                .await?;
            page.ephemeral = true;
            page
        }
        ButtonAction::References { offset, count, .. } => {
            let (answer, _) = state
                .answer_page(
                    ask,
                    &record.question,
                    0,
                    offset.saturating_add(count),
                    false,
                )
                .await?;
            let shown: Vec<_> = answer.hits.into_iter().skip(offset).take(count).collect();
            render::render_references(&shown, &state.library())
        }
        ButtonAction::Vote { up, .. } => {
            let vote = Vote {
                ask_key: ask.to_string(),
                user_id,
                question: record.question.clone(),
                answer_ids: record.shown.clone(),
                answered: record.answered,
                up,
            };
            let store = Arc::clone(&state.feedback);
            tokio::task::spawn_blocking(move || store.record(&vote))
                .await
                .map_err(BotError::Task)??;
            info!(ask, up, answered = record.answered, "vote stored");
            if up {
                notice("Thanks! Your 👍 was recorded.")
            } else {
                notice("Thanks! Your 👎 was recorded; down-voted questions are reviewed to improve citebot.")
            }
        }
    })
}

/// The question behind a button: from the log, or from the "Q: …" line of the answer the
/// button sits under (then asked again to know what was shown).
async fn recall(
    state: &BotState,
    ask: u64,
    question_shown: Option<String>,
) -> Result<Option<AskRecord>, BotError> {
    if let Some(record) = state.asks.get(ask) {
        return Ok(Some(record));
    }
    let Some(question) = question_shown else {
        return Ok(None);
    };
    let page_size = state.page_size(None);
    let (answer, _) = state
        .answer_page(ask, &question, 0, page_size, false)
        .await?;
    let record = AskRecord::from_answer(&answer, page_size, false);
    state.asks.insert(ask, record.clone());
    Ok(Some(record))
}

/// The question the answer a button sits under shows ("Q: …" in an embed's author line).
pub fn question_shown(message: &serenity::all::Message) -> Option<String> {
    message
        .embeds
        .iter()
        .filter_map(|embed| embed.author.as_ref())
        .find_map(|author| render::question_from_author(&author.name))
}
