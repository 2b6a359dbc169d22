//! The slash commands, one function each: `/ask`, `/source`, `/about`.
//!
//! The option names and types are a contract (scripts and tests call them):
//! `/ask question:<string> [top:<integer 1–5>]`, `/source number:<integer>`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serenity::all::{
    AutocompleteChoice, ChannelId, CreateInteractionResponse, CreateInteractionResponseMessage,
};
use tracing::{info, warn};

use super::answering;
use super::events::start_thread;
use super::render::{self, Reply};
use super::reply;
use super::state::{AskRecord, Data};
use super::BotError;

/// The context slash commands get.
pub type AppContext<'a> = poise::ApplicationContext<'a, Data, BotError>;

/// The commands to register.
pub fn all() -> Vec<poise::Command<Data, BotError>> {
    vec![ask(), source(), about()]
}

/// Sends `reply` as the interaction's response (type 4), and tells poise a response exists so
/// an error message afterwards goes out as a follow-up.
async fn respond(ctx: AppContext<'_>, reply: &Reply) -> Result<(), BotError> {
    ctx.interaction
        .create_response(
            &ctx.serenity_context.http,
            CreateInteractionResponse::Message(reply::interaction_message(reply)),
        )
        .await?;
    ctx.has_sent_initial_response.store(true, Ordering::SeqCst);
    Ok(())
}

/// Ask a question about the article; the answer quotes it, with its sources
#[poise::command(slash_command)]
pub async fn ask(
    ctx: AppContext<'_>,
    #[description = "Your question, e.g. how is calcinosis cutis treated?"] question: String,
    #[description = "How many passages to show (1–5)"]
    #[min = 1]
    #[max = 5]
    top: Option<u8>,
) -> Result<(), BotError> {
    let started = Instant::now();
    let state = ctx.data();
    let _busy = state.in_flight.enter();
    let interaction = ctx.interaction;
    let http = &ctx.serenity_context.http;

    let asker = answering::Asker {
        user_id: interaction.user.id.get(),
        in_guild: interaction.guild_id.is_some(),
        channel_id: interaction.channel_id.get(),
        parent_id: interaction
            .channel
            .as_ref()
            .and_then(|channel| channel.parent_id)
            .map(ChannelId::get),
    };
    if let Some(refusal) = answering::refusal(state, asker).await? {
        return respond(ctx, &refusal).await;
    }

    let emergency = state.emergency.is_emergency(&question);
    let ask_id = interaction.id.get();
    let page_size = state.page_size(top);
    let work = state.answer_page(ask_id, &question, 0, page_size, emergency);
    tokio::pin!(work);
    // Discord drops an interaction not acknowledged within 3 s. Answering takes microseconds,
    // so the answer normally goes out at once; if it is slow (a busy machine, an index being
    // reloaded), the response is deferred and edited when the answer is ready.
    let defer_after = Duration::from_millis(state.settings.defer_after_ms);
    let in_time = if defer_after.is_zero() {
        None
    } else {
        tokio::time::timeout(defer_after, &mut work).await.ok()
    };
    let deferred = in_time.is_none();
    let answer = match in_time {
        Some(result) => {
            let (answer, answer_reply) = result?;
            respond(ctx, &answer_reply).await?;
            answer
        }
        None => {
            interaction
                .create_response(
                    http,
                    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
                )
                .await?;
            ctx.has_sent_initial_response.store(true, Ordering::SeqCst);
            let (answer, answer_reply) = work.await?;
            interaction
                .edit_response(http, reply::edit_response(&answer_reply))
                .await?;
            answer
        }
    };
    state.asks.insert(
        ask_id,
        AskRecord::from_answer(&answer, page_size, emergency),
    );
    info!(
        ask = ask_id,
        surface = "slash",
        answered = answer.answered(),
        emergency,
        deferred,
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "answered"
    );

    let in_thread = interaction
        .channel
        .as_ref()
        .is_some_and(|channel| channel.thread_metadata.is_some());
    if state.settings.thread_per_question && interaction.guild_id.is_some() && !in_thread {
        // The thread starts from the answer, so the discussion of it has a place of its own.
        let started_thread = match interaction.get_response(http).await {
            Ok(message) => start_thread(
                ctx.serenity_context,
                message.channel_id,
                message.id.get(),
                &question,
            )
            .await
            .map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = started_thread {
            warn!(%error, "cannot start a thread on the answer");
        }
    }
    Ok(())
}

/// Suggests references as "15 · Grenader & Shavit 2011, New England Journal of Medicine".
async fn autocomplete_reference(ctx: AppContext<'_>, partial: &str) -> Vec<AutocompleteChoice> {
    answering::source_choices(&ctx.data().library(), partial)
        .into_iter()
        .map(|(name, number)| AutocompleteChoice::new(name, number))
        .collect()
}

/// Show one of the article's references in full, with DOI, PubMed and PMC links
#[poise::command(slash_command)]
pub async fn source(
    ctx: AppContext<'_>,
    #[description = "The reference number, as in [15]"]
    #[autocomplete = "autocomplete_reference"]
    #[min = 1]
    number: u32,
) -> Result<(), BotError> {
    let _busy = ctx.data().in_flight.enter();
    let reply = answering::source_reply(&ctx.data().library(), number);
    respond(ctx, &reply).await
}

/// What citebot answers from, the article's licence, and why it is not medical advice
#[poise::command(slash_command)]
pub async fn about(ctx: AppContext<'_>) -> Result<(), BotError> {
    let _busy = ctx.data().in_flight.enter();
    let reply = render::render_about(&ctx.data().library());
    respond(ctx, &reply).await
}
