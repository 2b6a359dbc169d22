//! citebot answers questions from a cited source, offline, with no language model.
//!
//! The pipeline, one module per step (see ARCHITECTURE.md):
//! [`corpus`] (article files) → [`article`] (parsing into [`passage`]s and [`citation`]s) →
//! [`index`] (tantivy) → [`query`] + [`search`] (ranking, best sentence, abstention) →
//! [`answer`] → surfaces: the `citebot` binary's CLI, [`discord`] and [`http`]. The settings:
//! the core's [`config`], each surface's own section, all read by [`config_file`].
//! [`engine::Engine`] ties the core together for the surfaces.

pub mod answer;
pub mod article;
pub mod citation;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod corpus;
// The Discord bot. Without the `discord` cargo feature (on by default) only its settings are
// built, so `[discord]` in config.toml is read and validated by every build.
pub mod discord;
pub mod embeddings;
pub mod engine;
pub mod error;
// `citebot serve`: Discord's HTTP interactions, the JSON API and the search page. Without the
// `serve` cargo feature only its settings are built, as for the bot.
pub mod http;
pub mod index;
pub mod meaning;
pub mod passage;
pub mod query;
pub mod ranker;
pub mod search;
pub mod synth;
// Articles fetched from Wikipedia (`citebot add`, `citebot refresh`): reading them is always
// built; fetching needs the `wikipedia` cargo feature (on by default).
pub mod wikipedia;

pub use answer::{Answer, Hit, Verdict};
pub use citation::{Citation, RefNumber};
pub use config::Config;
pub use config_file::ConfigFile;
pub use engine::Engine;
pub use error::{Error, Result};
pub use passage::{Passage, SectionPath};
