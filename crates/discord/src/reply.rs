//! [`Reply`] to serenity builders. Every builder made here carries empty allowed mentions, so
//! nothing the bot sends can ping anyone, whatever text it quotes.

use serenity::all::{
    AutocompleteChoice, ButtonStyle as SerenityButtonStyle, CreateActionRow, CreateAllowedMentions,
    CreateAutocompleteResponse, CreateButton, CreateEmbed, CreateEmbedAuthor, CreateEmbedFooter,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse, ReactionType,
};

use super::render::{ButtonStyle, Reply};

/// Allowed mentions that allow nothing: no user, role, `@everyone` or reply ping.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

fn embeds(reply: &Reply) -> Vec<CreateEmbed> {
    // render.rs keeps every reply within Discord's limits by construction (property-tested);
    // this catches a regression before Discord answers 400.
    if let Err(error) = reply.check_limits() {
        tracing::error!(%error, "reply over discord's limits");
        if cfg!(debug_assertions) {
            panic!("reply over discord's limits: {error}");
        }
    }
    reply
        .embeds
        .iter()
        .map(|embed| {
            let mut built = CreateEmbed::new().colour(embed.color);
            if let Some(author) = &embed.author {
                built = built.author(CreateEmbedAuthor::new(author));
            }
            if let Some(title) = &embed.title {
                built = built.title(title);
            }
            if let Some(url) = &embed.url {
                built = built.url(url);
            }
            if let Some(description) = &embed.description {
                built = built.description(description);
            }
            for field in &embed.fields {
                built = built.field(&field.name, &field.value, field.inline);
            }
            if let Some(footer) = &embed.footer {
                built = built.footer(CreateEmbedFooter::new(footer));
            }
            built
        })
        .collect()
}

fn components(reply: &Reply) -> Vec<CreateActionRow> {
    reply
        .rows
        .iter()
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|button| {
                        let mut built = CreateButton::new(&button.custom_id)
                            .label(&button.label)
                            .style(match button.style {
                                ButtonStyle::Primary => SerenityButtonStyle::Primary,
                                ButtonStyle::Secondary => SerenityButtonStyle::Secondary,
                            });
                        if let Some(emoji) = &button.emoji {
                            built = built.emoji(ReactionType::Unicode(emoji.clone()));
                        }
                        built
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Serenity's message builders share these setters but no trait: one place fills them all
/// from a [`Reply`] (embeds, buttons, no pings, the content when there is one).
macro_rules! filled {
    ($builder:expr, $reply:expr) => {{
        let reply: &Reply = $reply;
        let built = $builder
            .embeds(embeds(reply))
            .components(components(reply))
            .allowed_mentions(no_mentions());
        match &reply.content {
            Some(content) => built.content(content),
            None => built,
        }
    }};
}

/// A channel message (mentions and DMs). `ephemeral` does not apply to channel messages.
pub fn message(reply: &Reply) -> CreateMessage {
    filled!(CreateMessage::new(), reply)
}

/// The message of an interaction response (type 4).
pub fn interaction_message(reply: &Reply) -> CreateInteractionResponseMessage {
    filled!(CreateInteractionResponseMessage::new(), reply).ephemeral(reply.ephemeral)
}

/// The edit that replaces a deferred response's "thinking…" placeholder.
pub fn edit_response(reply: &Reply) -> EditInteractionResponse {
    filled!(EditInteractionResponse::new(), reply)
}

/// A follow-up message to an interaction already answered (the gateway's error notice after
/// a deferred answer failed).
pub fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
    filled!(CreateInteractionResponseFollowup::new(), reply).ephemeral(reply.ephemeral)
}

/// Autocomplete choices (name shown, integer value) as the response's data (type 8).
pub fn choices(choices: Vec<(String, u32)>) -> CreateAutocompleteResponse {
    CreateAutocompleteResponse::new().set_choices(
        choices
            .into_iter()
            .map(|(name, value)| AutocompleteChoice::new(name, value))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::notice;

    #[test]
    fn every_builder_allows_no_mentions() {
        let reply = notice("hello @everyone");
        for json in [
            serde_json::to_value(message(&reply)).unwrap(),
            serde_json::to_value(interaction_message(&reply)).unwrap(),
            serde_json::to_value(edit_response(&reply)).unwrap(),
            serde_json::to_value(followup(&reply)).unwrap(),
        ] {
            assert_eq!(
                json["allowed_mentions"],
                serde_json::json!({"parse": [], "roles": [], "users": []}),
                "{json}"
            );
        }
    }
}
