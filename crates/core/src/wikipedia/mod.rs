//! Articles fetched from Wikipedia, as the corpus reads them: the stored file
//! `SLUG.wikipedia.json` (metadata + Parsoid HTML, [`stored`]) and the Parsoid HTML parsed into
//! the same passages as a browser copy ([`parsoid`]). Fetching them is `citebot-wikipedia`'s.

pub mod parsoid;
pub mod stored;

pub use stored::StoredArticle;
