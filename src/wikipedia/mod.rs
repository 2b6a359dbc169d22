//! Articles straight from Wikipedia: fetched through MediaWiki's REST API, stored as their
//! Parsoid HTML with the revision they are, parsed into the same passages as a browser copy.
//!
//! - [`parsoid`]: Parsoid HTML → [`crate::article::Article`] (always built: the corpus reads
//!   fetched articles in every build).
//! - [`stored`]: the corpus file `SLUG.wikipedia.json` (metadata + HTML), atomic writes.
//! - [`settings`]: `[wikipedia]` in config.toml.
//! - [`changes`]: what changed between two revisions, in passage terms.
//! - `client` (the `wikipedia` cargo feature): the REST API over HTTP, with redirects,
//!   Retry-After and a polite pace; `add` and `refresh` build on it.

pub mod changes;
pub mod parsoid;
pub mod settings;
pub mod stored;

#[cfg(feature = "wikipedia")]
pub mod client;
#[cfg(feature = "wikipedia")]
pub mod fetch;

pub use settings::WikipediaSettings;
pub use stored::StoredArticle;
