//! The Discord bot (`citebot bot`): serenity for the gateway and REST, poise for the slash
//! commands. A thin adapter: every answer comes from the engine as an [`crate::answer::Answer`]
//! and is only formatted here.

pub mod http;
pub mod render;
pub mod safety;
pub mod settings;

pub use settings::DiscordSettings;
