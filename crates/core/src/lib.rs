//! citebot's pipeline without a surface: it answers questions from a cited source, offline,
//! with no language model.
//!
//! One module per step (see ARCHITECTURE.md):
//! [`corpus`] (article files) → [`article`] (parsing into [`passage`]s and [`citation`]s;
//! fetched Wikipedia HTML through [`wikipedia`]) → [`index`] (tantivy, with the passages'
//! [`embeddings`]) → [`query`] + [`search`] (candidates, the learned [`ranker`], best sentence,
//! abstention) → [`answer`]. [`engine::Engine`] ties them together for the surfaces, which live
//! in other crates: this one depends on no runtime, network, terminal or Discord crate.

pub mod answer;
pub mod article;
pub mod citation;
pub mod config;
pub mod corpus;
pub mod embeddings;
pub mod engine;
pub mod error;
pub mod index;
pub mod passage;
pub mod query;
pub mod ranker;
pub mod search;
pub mod wikipedia;

/// The meaning step (sentence embeddings, the reader), re-exported for the surfaces.
pub use citebot_meaning as meaning;

pub use answer::{Answer, Hit, Verdict};
pub use citation::{Citation, RefNumber};
pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Result};
pub use passage::{Passage, SectionPath};
