//! Articles straight from Wikipedia (`citebot add`, `citebot refresh`): fetched through
//! MediaWiki's REST API and stored with the revision they are. Reading and parsing what is
//! stored is the core's (`citebot_core::wikipedia`), so a build without this crate still
//! indexes fetched articles.
//!
//! - [`settings`]: `[wikipedia]` in config.toml.
//! - [`client`]: the REST API over HTTP, with redirects, Retry-After and a polite pace.
//! - [`fetch`]: `add` and `refresh`, built on the client; atomic writes into the corpus.
//! - [`changes`]: what changed between two revisions, in passage terms.

pub mod changes;
pub mod client;
pub mod fetch;
pub mod settings;

pub use settings::WikipediaSettings;
