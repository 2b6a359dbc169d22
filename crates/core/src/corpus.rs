//! The corpus folder: every `*.txt` in it is an article copied from a browser, and every
//! `*.wikipedia.json` one fetched by `citebot add` (see [`crate::wikipedia::stored`]). Loading
//! reads and checks the files; the fingerprint tells the index whether it still matches them.
//!
//! The fingerprint is a SHA-256 over every file's name, length and content hash. A rebuild
//! records each file's metadata (length, mtime, ctime, inode) beside its content hash
//! ([`FileDigest`]), so a later staleness check re-reads only the files whose metadata changed
//! ([`fingerprint_with`]). As in git's "racy clean" rule, a file modified within
//! [`RACY_WINDOW_NS`] of being read is never vouched for by its metadata: it is re-hashed on
//! every check until the next rebuild.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::article::{parse_article, Article, ArticleSource, PassageLimits};
use crate::error::{Error, Result};
use crate::wikipedia::stored::{slug_of_file_name, StoredArticle, STORED_SUFFIX};

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
    /// For an article fetched from Wikipedia: the revision its text is.
    #[serde(default)]
    pub revision: Option<ArticleSource>,
}

impl ArticleInfo {
    /// A fetched article says where it comes from; for a copy, Wikipedia articles are
    /// CC BY-SA 4.0 and the URL is derived from the title.
    pub fn for_article(article: &Article) -> ArticleInfo {
        ArticleInfo {
            slug: article.slug.clone(),
            title: article.title.clone(),
            source_url: match &article.source {
                Some(source) => source.url.clone(),
                None => format!(
                    "https://en.wikipedia.org/wiki/{}",
                    article.title.replace(' ', "_")
                ),
            },
            licence: article
                .source
                .as_ref()
                .map_or_else(|| "CC BY-SA 4.0".to_string(), |s| s.licence.clone()),
            revision: article.source.clone(),
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

    /// The attribution line every answer ends with. A fetched article names its revision,
    /// that revision's date and its permanent address, as CC BY-SA attribution asks:
    /// `From the Wikipedia article "Morphea", revision 1234 of 2024-05-01
    /// (https://en.wikipedia.org/w/index.php?oldid=1234, CC BY-SA 4.0).`
    pub fn attribution(&self) -> String {
        match &self.revision {
            Some(revision) => format!(
                "From the Wikipedia article \"{}\", revision {} of {} ({}, {}).",
                self.title,
                revision.revision,
                revision_date(&revision.timestamp),
                revision.permalink,
                self.licence
            ),
            None => format!(
                "From the Wikipedia article \"{}\" ({}, {}).",
                self.title, self.source_url, self.licence
            ),
        }
    }

    /// Where to link the article: the revision's permanent address for a fetched article,
    /// else the article's address.
    pub fn link_url(&self) -> &str {
        self.revision
            .as_ref()
            .map_or(self.source_url.as_str(), |revision| {
                revision.permalink.as_str()
            })
    }
}

/// "2024-05-01T10:00:00Z" → "2024-05-01".
pub fn revision_date(timestamp: &str) -> &str {
    timestamp.split('T').next().unwrap_or(timestamp)
}

/// What the file system says about a file: enough to tell, without reading it, that it has not
/// changed since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStat {
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the Unix epoch: changes with the content even
    /// when a tool puts the old mtime back (`touch -d`, `rsync -t`).
    pub ctime_ns: i64,
    pub inode: u64,
}

impl FileStat {
    /// The metadata of a file (symbolic links followed).
    pub fn of(metadata: &std::fs::Metadata) -> FileStat {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |seconds: i64, nanos: i64| seconds.saturating_mul(1_000_000_000) + nanos;
            FileStat {
                len: metadata.len(),
                mtime_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
                ctime_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
                inode: metadata.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0);
            FileStat {
                len: metadata.len(),
                mtime_ns,
                ctime_ns: mtime_ns,
                inode: 0,
            }
        }
    }
}

/// A file modified less than this before it was read may be modified again with the same
/// timestamp (coarse kernel clocks tick every few milliseconds; some file systems store whole
/// seconds): its metadata cannot prove it unchanged, so the staleness check re-hashes it.
pub const RACY_WINDOW_NS: i64 = 1_000_000_000;
/// The window for a file whose timestamps have no sub-second part (FAT keeps 2 s).
const RACY_WINDOW_COARSE_NS: i64 = 3_000_000_000;

/// An article file found in the corpus folder, not yet read.
#[derive(Debug, Clone)]
pub struct ArticleFile {
    pub path: PathBuf,
    pub slug: String,
    /// Its metadata when listed.
    pub stat: FileStat,
}

/// One file as a rebuild read it: its metadata at that moment and the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub slug: String,
    /// Bytes read.
    pub len: u64,
    pub sha256: [u8; 32],
    pub stat: FileStat,
    /// Modified too close to being read (or while being read) for `stat` to vouch for it.
    pub racy: bool,
}

impl FileDigest {
    fn new(slug: &str, bytes: &[u8], stat: FileStat, read_at_ns: i64) -> FileDigest {
        let window = if stat.mtime_ns % 1_000_000_000 == 0 && stat.ctime_ns % 1_000_000_000 == 0 {
            RACY_WINDOW_COARSE_NS
        } else {
            RACY_WINDOW_NS
        };
        let changed = stat.mtime_ns.max(stat.ctime_ns);
        FileDigest {
            slug: slug.to_string(),
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            stat,
            racy: stat.len != bytes.len() as u64 || changed.saturating_add(window) > read_at_ns,
        }
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(i64::MAX)
}

/// Whether a corpus file is an article fetched from Wikipedia (else a browser copy).
pub fn is_fetched(file: &ArticleFile) -> bool {
    file.path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(STORED_SUFFIX))
}

/// Lists the `*.txt` and `*.wikipedia.json` files of the corpus folder, sorted by name so ids
/// are stable. Two files for one name (`morphea.txt` and `morphea.wikipedia.json`) are an
/// error: passage ids and `--article` would not know which is meant.
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
        let Some(file_name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let fetched_slug = slug_of_file_name(file_name).map(str::to_string);
        if file_name.starts_with('.')
            || (fetched_slug.is_none() && path.extension().and_then(|e| e.to_str()) != Some("txt"))
        {
            continue;
        }
        // One stat per file, relative to the open folder (no path walk); a symbolic link is
        // followed, as `is_file` does.
        let metadata = match entry.metadata() {
            Ok(metadata) if metadata.file_type().is_symlink() => std::fs::metadata(&path),
            other => other,
        };
        let Ok(metadata) = metadata else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let Some(slug) = fetched_slug.or_else(|| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
        }) else {
            continue;
        };
        files.push(ArticleFile {
            path,
            slug,
            stat: FileStat::of(&metadata),
        });
    }
    files.sort_by(|a, b| a.slug.cmp(&b.slug));
    if let Some(pair) = files.windows(2).find(|pair| pair[0].slug == pair[1].slug) {
        return Err(Error::DuplicateArticle {
            slug: pair[0].slug.clone(),
            first: pair[0].path.clone(),
            second: pair[1].path.clone(),
        });
    }
    if files.is_empty() {
        return Err(Error::CorpusEmpty {
            path: corpus_dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Reads and checks one article file: UTF-8, not empty, with a body.
pub fn read_article(file: &ArticleFile, limits: PassageLimits) -> Result<Article> {
    read_article_digest(file, limits).map(|(article, _)| article)
}

/// [`read_article`], also returning the file's [`FileDigest`] from the same bytes: a rebuild
/// reads each file once.
pub fn read_article_digest(
    file: &ArticleFile,
    limits: PassageLimits,
) -> Result<(Article, FileDigest)> {
    let (bytes, digest) = read_with_digest(file)?;
    Ok((parse_article_bytes(file, bytes, limits)?, digest))
}

/// The file's bytes and their digest, with the metadata of the open file (not of the listing):
/// what was hashed is what the metadata describes.
fn read_with_digest(file: &ArticleFile) -> Result<(Vec<u8>, FileDigest)> {
    let error = |source| Error::Read {
        path: file.path.clone(),
        source,
    };
    let mut handle = std::fs::File::open(&file.path).map_err(error)?;
    let stat = FileStat::of(&handle.metadata().map_err(error)?);
    let mut bytes = Vec::with_capacity(stat.len as usize + 1);
    handle.read_to_end(&mut bytes).map_err(error)?;
    let digest = FileDigest::new(&file.slug, &bytes, stat, now_ns());
    Ok((bytes, digest))
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
    let article = if is_fetched(file) {
        let stored = StoredArticle::from_json(&text).map_err(|error| Error::StoredArticle {
            path: file.path.clone(),
            message: error.0,
        })?;
        stored.parse(&file.slug, limits)
    } else {
        parse_article(&file.slug, &text, limits)
    };
    if article.body_passages().next().is_none() {
        return Err(Error::NoBody {
            path: file.path.clone(),
        });
    }
    Ok(article)
}

/// The corpus fingerprint of files' digests, in the listing's (name) order: every article's
/// name, length and content hash. Equal fingerprints mean the index built from one corpus
/// serves the other.
pub fn combine(digests: &[FileDigest]) -> String {
    let mut hasher = Sha256::new();
    for digest in digests {
        hasher.update(digest.slug.as_bytes());
        hasher.update([0]);
        hasher.update(digest.len.to_le_bytes());
        hasher.update(digest.sha256);
    }
    format!("{:x}", hasher.finalize())
}

/// The fingerprint of the corpus, reading every file.
pub fn fingerprint(corpus_dir: &Path) -> Result<String> {
    fingerprint_with(corpus_dir, &[]).map(|found| found.value)
}

/// A fingerprint and how it was obtained.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub value: String,
    /// Files read and hashed (the others were vouched for by their metadata).
    pub rehashed: usize,
    pub files: usize,
}

/// The fingerprint of the corpus, trusting `known` digests (a previous rebuild's, sorted by
/// slug) for the files whose metadata is unchanged and that were not racy when read.
pub fn fingerprint_with(corpus_dir: &Path, known: &[FileDigest]) -> Result<Fingerprint> {
    let files = list_articles(corpus_dir)?;
    let mut digests = Vec::with_capacity(files.len());
    let mut rehashed = 0;
    for file in &files {
        let trusted = known
            .binary_search_by(|d| d.slug.as_str().cmp(&file.slug))
            .ok()
            .map(|at| &known[at])
            .filter(|d| !d.racy && d.stat == file.stat && d.len == file.stat.len);
        match trusted {
            Some(digest) => digests.push(digest.clone()),
            None => {
                rehashed += 1;
                digests.push(read_with_digest(file)?.1);
            }
        }
    }
    Ok(Fingerprint {
        value: combine(&digests),
        rehashed,
        files: files.len(),
    })
}

const TABLE_MAGIC: &[u8; 8] = b"CBFILES1";

/// Serializes digests (for a generation's file table), with a trailing checksum.
pub fn encode_digests(digests: &[FileDigest]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + digests.len() * 96);
    out.extend_from_slice(TABLE_MAGIC);
    out.extend_from_slice(&(digests.len() as u64).to_le_bytes());
    for d in digests {
        out.extend_from_slice(&(d.slug.len() as u32).to_le_bytes());
        out.extend_from_slice(d.slug.as_bytes());
        out.extend_from_slice(&d.len.to_le_bytes());
        out.extend_from_slice(&d.sha256);
        out.extend_from_slice(&d.stat.len.to_le_bytes());
        out.extend_from_slice(&d.stat.mtime_ns.to_le_bytes());
        out.extend_from_slice(&d.stat.ctime_ns.to_le_bytes());
        out.extend_from_slice(&d.stat.inode.to_le_bytes());
        out.push(u8::from(d.racy));
    }
    let checksum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&checksum);
    out
}

/// Reads what [`encode_digests`] wrote; `None` when damaged (the caller then re-hashes all).
pub fn decode_digests(bytes: &[u8]) -> Option<Vec<FileDigest>> {
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != checksum {
        return None;
    }
    let mut input = body.strip_prefix(TABLE_MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = input.split_at_checked(n)?;
        input = rest;
        Some(head)
    };
    let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let count = u64_of(take(8)?) as usize;
    let mut digests = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let slug_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let slug = std::str::from_utf8(take(slug_len)?).ok()?.to_string();
        let len = u64_of(take(8)?);
        let sha256: [u8; 32] = take(32)?.try_into().ok()?;
        let stat = FileStat {
            len: u64_of(take(8)?),
            mtime_ns: u64_of(take(8)?) as i64,
            ctime_ns: u64_of(take(8)?) as i64,
            inode: u64_of(take(8)?),
        };
        let racy = take(1)?[0] != 0;
        digests.push(FileDigest {
            slug,
            len,
            sha256,
            stat,
            racy,
        });
    }
    if !digests.windows(2).all(|w| w[0].slug < w[1].slug) {
        return None;
    }
    Some(digests)
}
