//! Gateway messages: questions asked by mentioning the bot or in a DM. Slash commands and the
//! buttons under an answer are interactions, answered by [`super::dispatch`].

use std::time::Instant;

use serenity::all::{AutoArchiveDuration, ChannelId, Context, CreateThread, Message, MessageType};
use tracing::{debug, info, warn};

use super::render::{self, notice, Reply};
use super::reply;
use super::safety::{human_duration, is_blank_question, strip_bot_mention, CooldownCheck};
use super::state::{AskRecord, BotState};
use super::BotError;

/// A message: answered when it mentions the bot or is a DM, from a person, in an allowed
/// channel; everything else is ignored without a word.
pub async fn on_message(
    ctx: &Context,
    message: &Message,
    state: &BotState,
    bot_id: u64,
) -> Result<(), BotError> {
    // Other bots (and this one) never get answers: two bots could otherwise talk forever.
    if message.author.bot || message.author.id.get() == bot_id || message.webhook_id.is_some() {
        return Ok(());
    }
    if !matches!(
        message.kind,
        MessageType::Regular | MessageType::InlineReply
    ) {
        return Ok(());
    }
    let is_dm = message.guild_id.is_none();
    let mentioned = message.mentions.iter().any(|user| user.id.get() == bot_id);
    if !is_dm && !mentioned {
        return Ok(());
    }
    if !is_dm && !channel_allowed(ctx, state, message.channel_id).await {
        debug!(
            channel = message.channel_id.get(),
            "question in a channel not on the allow-list"
        );
        return Ok(());
    }

    let question = strip_bot_mention(&message.content, bot_id);
    if is_blank_question(&question) {
        let help = notice("Ask me a question about the article, for example “@citebot how is calcinosis cutis treated?”, or use `/ask`. `/about` says what I answer from.");
        return send_reply(ctx, message, &help).await;
    }
    match state.check_cooldown(message.author.id.get()).await? {
        CooldownCheck::Ready => {}
        CooldownCheck::Wait {
            remaining,
            first_refusal,
        } => {
            debug!(user = message.author.id.get(), "question during cooldown");
            if first_refusal {
                let wait = cooldown_notice(remaining);
                return send_reply(ctx, message, &wait).await;
            }
            return Ok(());
        }
    }

    let started = Instant::now();
    let emergency = state.emergency.is_emergency(&question);
    let ask = message.id.get();
    let page_size = state.page_size(None);
    let (answer, answer_reply) = state
        .answer_page(ask, &question, 0, page_size, emergency)
        .await?;
    state
        .asks
        .insert(ask, AskRecord::from_answer(&answer, page_size, emergency));

    let threaded = state.settings.thread_per_question && !is_dm;
    if threaded {
        match start_thread(ctx, message.channel_id, message.id.get(), &question).await {
            Ok(thread) => {
                thread
                    .send_message(&ctx.http, reply::message(&answer_reply))
                    .await?;
                log_answer(ask, answer.answered(), emergency, started, "mention");
                return Ok(());
            }
            Err(error) => warn!(%error, "cannot start a thread, answering in the channel"),
        }
    }
    send_reply(ctx, message, &answer_reply).await?;
    log_answer(
        ask,
        answer.answered(),
        emergency,
        started,
        if is_dm { "dm" } else { "mention" },
    );
    Ok(())
}

fn log_answer(ask: u64, answered: bool, emergency: bool, started: Instant, surface: &'static str) {
    info!(
        ask,
        surface,
        answered,
        emergency,
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "answered"
    );
}

/// "Please wait 7 s before asking again."
pub fn cooldown_notice(remaining: std::time::Duration) -> Reply {
    notice(&format!(
        "Please wait {} before asking again — this keeps citebot quick for everyone.",
        human_duration(remaining)
    ))
}

/// Replies to the question message (in its channel or DM), pinging no one.
async fn send_reply(ctx: &Context, message: &Message, reply: &Reply) -> Result<(), BotError> {
    let builder = reply::message(reply).reference_message(message);
    message.channel_id.send_message(&ctx.http, builder).await?;
    Ok(())
}

/// Starts a public thread named after the question, from the question's message.
pub async fn start_thread(
    ctx: &Context,
    channel_id: ChannelId,
    message_id: u64,
    question: &str,
) -> Result<ChannelId, serenity::Error> {
    let name = render::truncate_at_word(&question.replace(['\n', '\r'], " "), 100);
    let thread = channel_id
        .create_thread_from_message(
            &ctx.http,
            message_id,
            CreateThread::new(name).auto_archive_duration(AutoArchiveDuration::OneDay),
        )
        .await?;
    Ok(thread.id)
}

/// Whether the bot may answer in a guild channel. With an allow-list, a channel that is not on
/// it may be a thread of one that is: its parent is fetched once and remembered.
async fn channel_allowed(ctx: &Context, state: &BotState, channel_id: ChannelId) -> bool {
    let gate = &state.channels;
    if gate.allows(channel_id.get(), None) {
        return true;
    }
    let parent = match gate.known_parent(channel_id.get()) {
        Some(parent) => parent,
        None => {
            let parent = match channel_id.to_channel(&ctx.http).await {
                Ok(channel) => channel.guild().and_then(|guild_channel| {
                    guild_channel
                        .thread_metadata
                        .and(guild_channel.parent_id)
                        .map(ChannelId::get)
                }),
                Err(error) => {
                    warn!(%error, channel = channel_id.get(), "cannot look up the channel");
                    return false;
                }
            };
            gate.remember_parent(channel_id.get(), parent);
            parent
        }
    };
    gate.allows(channel_id.get(), parent)
}
