//! The corpus folder: every `*.txt` in it is an article. Loading reads and checks the files;
//! the fingerprint tells the index whether it still matches them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::article::{parse_article, Article, PassageLimits};
use crate::error::{Error, Result};

/// What people need to know about an article's origin: shown by `/about` and in footers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleInfo {
    pub slug: String,
    pub title: String,
    /// Where the text comes from.
    pub source_url: String,
    pub licence: String,
    pub passages: usize,
    pub references: usize,
    /// The sections that hold passages, in reading order ("Lead" first when it has text).
    pub sections: Vec<crate::passage::SectionPath>,
}

impl ArticleInfo {
    /// Wikipedia articles are CC BY-SA 4.0; the URL is derived from the title.
    pub fn for_article(article: &Article) -> ArticleInfo {
        ArticleInfo {
            slug: article.slug.clone(),
            title: article.title.clone(),
            source_url: format!(
                "https://en.wikipedia.org/wiki/{}",
                article.title.replace(' ', "_")
            ),
            licence: "CC BY-SA 4.0".to_string(),
            passages: article.body_passages().count(),
            references: article.references.len(),
            sections: {
                let mut sections: Vec<crate::passage::SectionPath> = Vec::new();
                for passage in article.body_passages() {
                    if !sections.contains(&passage.section_path) {
                        sections.push(passage.section_path.clone());
                    }
                }
                sections
            },
        }
    }
}

/// An article file found in the corpus folder, not yet read.
#[derive(Debug, Clone)]
pub struct ArticleFile {
    pub path: PathBuf,
    pub slug: String,
}

/// Lists the `*.txt` files of the corpus folder, sorted by name so ids are stable.
pub fn list_articles(corpus_dir: &Path) -> Result<Vec<ArticleFile>> {
    let entries = std::fs::read_dir(corpus_dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::CorpusMissing {
                path: corpus_dir.to_path_buf(),
            }
        } else {
            Error::Read {
                path: corpus_dir.to_path_buf(),
                source,
            }
        }
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: corpus_dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") || !path.is_file() {
            continue;
        }
        let Some(slug) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        files.push(ArticleFile { path, slug });
    }
    files.sort_by(|a, b| a.slug.cmp(&b.slug));
    if files.is_empty() {
        return Err(Error::CorpusEmpty {
            path: corpus_dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Reads and checks one article file: UTF-8, not empty, with a body.
pub fn read_article(file: &ArticleFile, limits: PassageLimits) -> Result<Article> {
    let bytes = read_bytes(file)?;
    parse_article_bytes(file, bytes, limits)
}

fn read_bytes(file: &ArticleFile) -> Result<Vec<u8>> {
    std::fs::read(&file.path).map_err(|source| Error::Read {
        path: file.path.clone(),
        source,
    })
}

fn parse_article_bytes(
    file: &ArticleFile,
    bytes: Vec<u8>,
    limits: PassageLimits,
) -> Result<Article> {
    let text = String::from_utf8(bytes).map_err(|error| Error::NotUtf8 {
        path: file.path.clone(),
        offset: error.utf8_error().valid_up_to(),
    })?;
    if text.trim_start_matches('\u{FEFF}').trim().is_empty() {
        return Err(Error::EmptyArticle {
            path: file.path.clone(),
        });
    }
    if text.contains('\0') {
        return Err(Error::NotUtf8 {
            path: file.path.clone(),
            offset: text.find('\0').unwrap_or(0),
        });
    }
    let article = parse_article(&file.slug, &text, limits);
    if article.body_passages().next().is_none() {
        return Err(Error::NoBody {
            path: file.path.clone(),
        });
    }
    Ok(article)
}

/// Reads every article of the corpus folder, and its [`fingerprint`] from the same bytes: a
/// rebuild reads each file once.
pub fn load_corpus(corpus_dir: &Path, limits: PassageLimits) -> Result<(Vec<Article>, String)> {
    let mut hasher = Sha256::new();
    let mut articles = Vec::new();
    for file in list_articles(corpus_dir)? {
        let bytes = read_bytes(&file)?;
        hash_file(&mut hasher, &file, &bytes);
        articles.push(parse_article_bytes(&file, bytes, limits)?);
    }
    Ok((articles, format!("{:x}", hasher.finalize())))
}

fn hash_file(hasher: &mut Sha256, file: &ArticleFile, bytes: &[u8]) {
    hasher.update(file.slug.as_bytes());
    hasher.update([0]);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// A hash of the corpus: every article's name and bytes. Equal fingerprints mean the index
/// built from one corpus serves the other.
pub fn fingerprint(corpus_dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for file in list_articles(corpus_dir)? {
        let bytes = read_bytes(&file)?;
        hash_file(&mut hasher, &file, &bytes);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
