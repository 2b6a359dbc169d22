//! How a fetched article is kept in the corpus: one file, `corpus/SLUG.wikipedia.json`, that
//! holds the revision's metadata and its Parsoid HTML exactly as the API returned it.
//!
//! One file rather than an `.html` beside a metadata file: a single rename replaces both at
//! once, so the metadata can never describe another revision than the HTML beside it, and the
//! corpus fingerprint (which hashes each article file) changes with either. The HTML is kept
//! whole, not a text rendering of it, so a better reader in a later citebot applies to the
//! stored articles without fetching them again (the index is rebuilt when the parsing sources
//! change). `jq -r .html corpus/morphea.wikipedia.json` gives the page back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::article::{Article, ArticleSource, PassageLimits};

/// The file name suffix of a fetched article in the corpus folder.
pub const STORED_SUFFIX: &str = ".wikipedia.json";

/// The version of this format; a reader refuses a newer one rather than misread it.
pub const FORMAT_VERSION: u32 = 1;

/// One fetched revision of a Wikipedia article, as stored in the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredArticle {
    /// [`FORMAT_VERSION`] when written.
    pub format: u32,
    /// The page title ("Calcinosis cutis").
    pub title: String,
    /// The title that was asked for when it redirected here ("Iatrogenic calcinosis cutis").
    #[serde(default)]
    pub redirected_from: Option<String>,
    /// MediaWiki's page id.
    pub page_id: u64,
    /// The revision this HTML is.
    pub revision: u64,
    /// When that revision was saved (ISO 8601, UTC), as the API gives it.
    pub timestamp: String,
    /// The licence's name and deed, as the API gives them.
    pub licence_title: String,
    pub licence_url: String,
    /// The site the article was fetched from ("https://en.wikipedia.org"): `refresh` asks it.
    pub origin: String,
    /// The article's canonical address ("https://en.wikipedia.org/wiki/Calcinosis_cutis").
    pub url: String,
    /// When citebot fetched it (ISO 8601, UTC).
    pub fetched_at: String,
    /// The revision's Parsoid HTML, unchanged.
    pub html: String,
}

/// Why a stored article file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoredError(pub String);

impl StoredArticle {
    /// Reads the JSON text of a stored article.
    pub fn from_json(text: &str) -> Result<StoredArticle, StoredError> {
        let stored: StoredArticle = serde_json::from_str(text).map_err(|error| {
            StoredError(format!(
                "not a fetched-article file ({error}); fetch it again with `citebot add TITLE`"
            ))
        })?;
        if stored.format > FORMAT_VERSION {
            return Err(StoredError(format!(
                "written by a newer citebot (format {}, this one reads {FORMAT_VERSION}): upgrade citebot",
                stored.format
            )));
        }
        Ok(stored)
    }

    /// The JSON text written to the corpus (pretty, so a diff of two revisions is readable).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The licence as people know it: "CC BY-SA 4.0" for Creative Commons deeds.
    pub fn licence(&self) -> String {
        let url = self.licence_url.to_lowercase();
        for (path, name) in [
            ("licenses/by-sa/4.0", "CC BY-SA 4.0"),
            ("licenses/by-sa/3.0", "CC BY-SA 3.0"),
            ("licenses/by/4.0", "CC BY 4.0"),
        ] {
            if url.contains(path) {
                return name.to_string();
            }
        }
        if self.licence_title.is_empty() {
            "CC BY-SA 4.0".to_string()
        } else {
            self.licence_title.clone()
        }
    }

    /// The permanent address of this revision: `…/w/index.php?oldid=N` on the article's site.
    pub fn permalink(&self) -> String {
        let site = url::Url::parse(&self.url)
            .ok()
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_else(|| self.origin.clone());
        format!("{site}/w/index.php?oldid={}", self.revision)
    }

    /// What attribution needs to know about the revision.
    pub fn source(&self) -> ArticleSource {
        ArticleSource {
            url: self.url.clone(),
            licence: self.licence(),
            revision: self.revision,
            timestamp: self.timestamp.clone(),
            permalink: self.permalink(),
        }
    }

    /// The article, parsed as a copy would be.
    pub fn parse(&self, slug: &str, limits: PassageLimits) -> Article {
        super::parsoid::parse_parsoid(
            slug,
            &self.title,
            self.redirected_from.clone(),
            &self.html,
            Some(self.source()),
            limits,
        )
    }
}

/// The corpus path of the article named `slug`.
pub fn stored_path(corpus_dir: &Path, slug: &str) -> PathBuf {
    corpus_dir.join(format!("{slug}{STORED_SUFFIX}"))
}

/// The slug of a corpus file name that is a fetched article ("morphea.wikipedia.json").
pub fn slug_of_file_name(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(STORED_SUFFIX)
        .filter(|slug| !slug.is_empty())
}

/// A file name for a title: lowercase words joined by hyphens ("Calcinosis cutis" →
/// "calcinosis-cutis"), as the shipped browser copy is named.
pub fn slug_for_title(title: &str) -> String {
    let mut slug = String::new();
    for character in title.chars() {
        if character.is_alphanumeric() {
            slug.extend(character.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

/// Writes `contents` to `path` so that a reader sees the old file or the new one, never a
/// part: a temporary file in the same folder, synced, then renamed over the old one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("article");
    // A dot name without the article suffix: the corpus listing never reads it.
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_named_like_the_shipped_copy() {
        assert_eq!(slug_for_title("Calcinosis cutis"), "calcinosis-cutis");
        assert_eq!(slug_for_title("Morphea"), "morphea");
        assert_eq!(
            slug_for_title("Raynaud's phenomenon (disorder)"),
            "raynaud-s-phenomenon-disorder"
        );
        assert_eq!(slug_of_file_name("morphea.wikipedia.json"), Some("morphea"));
        assert_eq!(slug_of_file_name("morphea.txt"), None);
    }

    #[test]
    fn the_permalink_is_on_the_articles_site() {
        let stored = StoredArticle {
            format: FORMAT_VERSION,
            title: "Morphea".into(),
            redirected_from: None,
            page_id: 1,
            revision: 1234,
            timestamp: "2024-05-01T10:00:00Z".into(),
            licence_title: "Creative Commons Attribution-Share Alike 4.0".into(),
            licence_url: "https://creativecommons.org/licenses/by-sa/4.0/".into(),
            origin: "http://127.0.0.1:9".into(),
            url: "https://en.wikipedia.org/wiki/Morphea".into(),
            fetched_at: "2024-05-02T00:00:00Z".into(),
            html: String::new(),
        };
        assert_eq!(
            stored.permalink(),
            "https://en.wikipedia.org/w/index.php?oldid=1234"
        );
        assert_eq!(stored.licence(), "CC BY-SA 4.0");
        let back = StoredArticle::from_json(&stored.to_json()).unwrap();
        assert_eq!(back, stored);
    }
}
