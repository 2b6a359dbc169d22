//! `citebot add` and `citebot refresh`: fetch, check, then write, so that whatever fails
//! leaves the corpus as it was.
//!
//! A fetched revision is parsed (exactly as the index build will parse it) before its file is
//! written; a page that is not an article (disambiguation, an error page, a cut-off body)
//! or that gives no passage is refused there. The file is then written atomically (a
//! temporary file renamed over the old one), so a reader or an index build never sees half of
//! it. The index is rebuilt by the caller.

use std::path::{Path, PathBuf};

use super::changes::{compare, Changes};
use super::client::{Client, FetchError, PageInfo};
use super::settings::WikipediaSettings;
use citebot_core::article::{Article, PassageLimits};
use citebot_core::wikipedia::parsoid::{check_document, ParsoidProblem};
use citebot_core::wikipedia::stored::{
    slug_for_title, slug_of_file_name, stored_path, write_atomically, StoredArticle, FORMAT_VERSION,
};

/// What `add` or `refresh` could not do. One line each, saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Setup(String),
    #[error("{what} {path} already exists: {hint}")]
    Exists {
        what: &'static str,
        path: PathBuf,
        hint: String,
    },
    #[error("revision {revision} of {title:?} from {origin} has no article text citebot can read ({problem}): nothing was written; try again later, or report the page if it persists")]
    NoText {
        title: String,
        revision: u64,
        origin: String,
        problem: String,
    },
    #[error(
        "cannot write {path}: {source} (check the corpus folder's permissions and free space)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("no fetched article named {name:?} in {corpus}: the fetched articles are {choices}")]
    UnknownName {
        name: String,
        corpus: PathBuf,
        choices: String,
    },
}

impl AddError {
    /// Whether trying again later may succeed (see [`FetchError::class`]); anything but a
    /// failed fetch needs a change first.
    pub fn class(&self) -> citebot_core::error::ErrorClass {
        match self {
            AddError::Fetch(error) => error.class(),
            AddError::Setup(_)
            | AddError::Exists { .. }
            | AddError::NoText { .. }
            | AddError::Write { .. }
            | AddError::Read { .. }
            | AddError::UnknownName { .. } => citebot_core::error::ErrorClass::Permanent,
        }
    }
}

/// `add`'s target: a title, or an article's URL on a wiki.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub title: String,
    /// The site the URL named ("https://de.wikipedia.org"), for a URL.
    pub origin: Option<String>,
}

impl Target {
    /// "Morphea", "https://en.wikipedia.org/wiki/Morphea",
    /// "https://en.wikipedia.org/w/index.php?title=Morphea".
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        if !(text.starts_with("http://") || text.starts_with("https://")) {
            if text.is_empty() {
                return Err("give an article title or URL, e.g. citebot add \"Morphea\"".into());
            }
            return Ok(Target {
                title: text.replace('_', " "),
                origin: None,
            });
        }
        let url =
            url::Url::parse(text).map_err(|error| format!("{text:?} is not a URL ({error})"))?;
        let decoded = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .replace('_', " ")
        };
        let title = if let Some(path_title) = url.path().strip_prefix("/wiki/") {
            Some(decoded(path_title))
        } else {
            url.query_pairs()
                .find(|(key, _)| key == "title")
                .map(|(_, value)| value.replace('_', " "))
        };
        let Some(title) = title.filter(|t| !t.trim().is_empty()) else {
            return Err(format!(
                "{text:?} names no article: use an article URL like https://en.wikipedia.org/wiki/Morphea"
            ));
        };
        Ok(Target {
            title,
            origin: Some(url.origin().ascii_serialization()),
        })
    }
}

/// What `add` did.
#[derive(Debug, Clone)]
pub struct Added {
    pub path: PathBuf,
    pub stored: StoredArticle,
    pub article: Article,
}

/// Fetches `page`'s latest revision and checks it is an article with text.
fn fetch_revision(
    client: &Client,
    page: &PageInfo,
    slug: &str,
    limits: PassageLimits,
) -> Result<(StoredArticle, Article), AddError> {
    let html = client.revision_html(page.revision)?;
    let facts = check_document(&html).map_err(|problem| match problem {
        ParsoidProblem::Disambiguation { suggestions } => {
            AddError::Fetch(FetchError::Disambiguation {
                title: page.title.clone(),
                origin: client.origin().to_string(),
                suggestions,
            })
        }
        ParsoidProblem::Redirect { target } => AddError::NoText {
            title: page.title.clone(),
            revision: page.revision,
            origin: client.origin().to_string(),
            problem: format!("the page is only a redirect to {target:?}; add that title"),
        },
        ParsoidProblem::NotParsoid => AddError::NoText {
            title: page.title.clone(),
            revision: page.revision,
            origin: client.origin().to_string(),
            problem: "the HTML is not Parsoid's: it has no sections".to_string(),
        },
    })?;
    let url = facts
        .canonical_url
        .unwrap_or_else(|| format!("{}/wiki/{}", client.origin(), page.key));
    let stored = StoredArticle {
        format: FORMAT_VERSION,
        title: page.title.clone(),
        redirected_from: page.redirected_from.clone(),
        page_id: page.page_id,
        revision: page.revision,
        timestamp: page.timestamp.clone(),
        licence_title: page.licence_title.clone(),
        licence_url: page.licence_url.clone(),
        origin: client.origin().to_string(),
        url,
        fetched_at: now_utc(),
        html,
    };
    let article = stored.parse(slug, limits);
    if article.body_passages().next().is_none() {
        return Err(AddError::NoText {
            title: page.title.clone(),
            revision: page.revision,
            origin: client.origin().to_string(),
            problem: "no paragraph of article text was found in it".to_string(),
        });
    }
    Ok((stored, article))
}

/// `citebot add`: fetches the article and writes `corpus/SLUG.wikipedia.json`.
pub fn add(
    corpus_dir: &Path,
    settings: &WikipediaSettings,
    target: &Target,
    language: Option<&str>,
    name: Option<&str>,
    limits: PassageLimits,
) -> Result<Added, AddError> {
    let origin = match (&target.origin, std::env::var(super::settings::ORIGIN_ENV)) {
        (_, Ok(env)) if !env.trim().is_empty() => settings.effective_origin(None),
        (Some(origin), _) => Ok(origin.clone()),
        (None, _) => settings.effective_origin(language),
    }
    .map_err(AddError::Setup)?;
    let client = Client::new(&origin, settings).map_err(AddError::Setup)?;
    if !corpus_dir.is_dir() {
        return Err(AddError::Setup(format!(
            "corpus folder {} not found: create it, or set corpus_dir in config.toml",
            corpus_dir.display()
        )));
    }
    let page = client.page(&target.title)?;
    let slug = match name {
        Some(name) => {
            let slug = slug_for_title(name);
            if slug.is_empty() {
                return Err(AddError::Setup(format!(
                    "--name {name:?} has no letter or digit: choose a name like morphea"
                )));
            }
            slug
        }
        None => slug_for_title(&page.title),
    };
    let path = stored_path(corpus_dir, &slug);
    let copy = corpus_dir.join(format!("{slug}.txt"));
    if copy.exists() {
        return Err(AddError::Exists {
            what: "a browser copy",
            path: copy,
            hint: format!(
                "remove it to replace it with the fetched article, or keep both by naming the fetched one: citebot add {:?} --name {slug}-wikipedia",
                page.title
            ),
        });
    }
    if path.exists() {
        return Err(AddError::Exists {
            what: "the fetched article",
            path,
            hint: format!("bring it up to date with `citebot refresh {slug}`"),
        });
    }
    let (stored, article) = fetch_revision(&client, &page, &slug, limits)?;
    write_atomically(&path, stored.to_json().as_bytes()).map_err(|source| AddError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(Added {
        path,
        stored,
        article,
    })
}

/// One fetched article's state after `refresh`.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The stored revision is the latest.
    Current { revision: u64, timestamp: String },
    /// A newer revision exists (`--check`: not fetched).
    OutOfDate {
        from: (u64, String),
        to: (u64, String),
    },
    /// The newer revision was fetched and written.
    Updated {
        from: (u64, String),
        to: (u64, String),
        changes: Changes,
    },
    /// It could not be checked or updated; the stored file is unchanged.
    Failed(String),
}

/// `refresh`'s report for one article.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub slug: String,
    pub title: String,
    pub outcome: RefreshOutcome,
}

/// The fetched articles of the corpus (slug and path), sorted by slug.
pub fn fetched_articles(corpus_dir: &Path) -> Result<Vec<(String, PathBuf)>, AddError> {
    let entries = std::fs::read_dir(corpus_dir).map_err(|error| AddError::Read {
        path: corpus_dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            if name.starts_with('.') {
                return None;
            }
            let slug = slug_of_file_name(&name)?.to_string();
            Some((slug, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// `citebot refresh [NAME…] [--check]`: asks for each fetched article's latest revision;
/// where it changed (and not `check_only`), fetches it, compares, and writes it. An article
/// that fails is reported and the others go on.
pub fn refresh(
    corpus_dir: &Path,
    settings: &WikipediaSettings,
    names: &[String],
    check_only: bool,
    limits: PassageLimits,
) -> Result<Vec<Refreshed>, AddError> {
    let all = fetched_articles(corpus_dir)?;
    let chosen: Vec<(String, PathBuf)> = if names.is_empty() {
        all.clone()
    } else {
        let mut chosen = Vec::new();
        for name in names {
            let slug = name.trim_end_matches(citebot_core::wikipedia::stored::STORED_SUFFIX);
            match all
                .iter()
                .find(|(s, _)| s == slug || *s == slug_for_title(slug))
            {
                Some(found) => chosen.push(found.clone()),
                None => {
                    return Err(AddError::UnknownName {
                        name: name.clone(),
                        corpus: corpus_dir.to_path_buf(),
                        choices: if all.is_empty() {
                            "none yet (add one with `citebot add TITLE`)".to_string()
                        } else {
                            all.iter()
                                .map(|(s, _)| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    })
                }
            }
        }
        chosen
    };
    let mut clients: Vec<Client> = Vec::new();
    let mut reports = Vec::new();
    for (slug, path) in chosen {
        let text = std::fs::read_to_string(&path).map_err(|error| AddError::Read {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let old = StoredArticle::from_json(&text).map_err(|error| AddError::Read {
            path: path.clone(),
            message: error.0,
        })?;
        let origin = match std::env::var(super::settings::ORIGIN_ENV) {
            Ok(env) if !env.trim().is_empty() => settings.effective_origin(None),
            _ => super::settings::parse_origin(&old.origin),
        }
        .map_err(AddError::Setup)?;
        // One client per site, so the polite pace holds across the articles of one wiki.
        let at = match clients.iter().position(|c| c.origin() == origin) {
            Some(at) => at,
            None => {
                clients.push(Client::new(&origin, settings).map_err(AddError::Setup)?);
                clients.len() - 1
            }
        };
        let client = &clients[at];
        let outcome = match refresh_one(client, &old, &slug, &path, check_only, limits) {
            Ok(outcome) => outcome,
            Err(AddError::Setup(message)) => return Err(AddError::Setup(message)),
            Err(error) => RefreshOutcome::Failed(error.to_string()),
        };
        reports.push(Refreshed {
            slug,
            title: old.title.clone(),
            outcome,
        });
    }
    Ok(reports)
}

fn refresh_one(
    client: &Client,
    old: &StoredArticle,
    slug: &str,
    path: &Path,
    check_only: bool,
    limits: PassageLimits,
) -> Result<RefreshOutcome, AddError> {
    let page = client.page(&old.title)?;
    let from = (old.revision, old.timestamp.clone());
    let to = (page.revision, page.timestamp.clone());
    if page.revision == old.revision {
        return Ok(RefreshOutcome::Current {
            revision: old.revision,
            timestamp: old.timestamp.clone(),
        });
    }
    if check_only {
        return Ok(RefreshOutcome::OutOfDate { from, to });
    }
    let (mut stored, article) = fetch_revision(client, &page, slug, limits)?;
    // The article keeps the name it was added under, and the title it was asked by.
    stored.redirected_from = stored.redirected_from.or(old.redirected_from.clone());
    let changes = compare(&old.parse(slug, limits), &article);
    write_atomically(path, stored.to_json().as_bytes()).map_err(|source| AddError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(RefreshOutcome::Updated { from, to, changes })
}

/// Now as ISO 8601 UTC, to the second ("2024-05-01T10:00:00Z").
fn now_utc() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's civil-from-days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_titles_or_article_urls() {
        assert_eq!(
            Target::parse("Morphea").unwrap(),
            Target {
                title: "Morphea".into(),
                origin: None
            }
        );
        assert_eq!(
            Target::parse("https://de.wikipedia.org/wiki/Calcinosis_cutis").unwrap(),
            Target {
                title: "Calcinosis cutis".into(),
                origin: Some("https://de.wikipedia.org".into())
            }
        );
        assert_eq!(
            Target::parse(
                "https://en.wikipedia.org/w/index.php?title=Sj%C3%B6gren%27s_syndrome&oldid=1"
            )
            .unwrap()
            .title,
            "Sjögren's syndrome"
        );
        assert!(Target::parse("https://en.wikipedia.org/").is_err());
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_844), (2024, 5, 1));
    }
}
