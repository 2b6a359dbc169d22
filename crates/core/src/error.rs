//! The library's one error type. Every message says what went wrong, where, and what to do.

use std::path::PathBuf;

/// Errors of the citebot library. Messages are lowercase, one line, and end with what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("corpus folder {path} not found: create it and put the article .txt files in it, or set corpus_dir in config.toml")]
    CorpusMissing { path: PathBuf },

    #[error(
        "corpus folder {path} holds no article: fetch one with `citebot add TITLE`, or copy a Wikipedia article there as plain text (.txt)"
    )]
    CorpusEmpty { path: PathBuf },

    #[error("two articles are named {slug:?}: {first} and {second}; remove one of them (passage ids and --article need one per name)")]
    DuplicateArticle {
        slug: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("fetched article {path}: {message}")]
    StoredArticle { path: PathBuf, message: String },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("article {path} is not valid UTF-8 (first bad byte at offset {offset}): save it as UTF-8 text")]
    NotUtf8 { path: PathBuf, offset: usize },

    #[error("article {path} is empty: remove it or paste the article's text into it")]
    EmptyArticle { path: PathBuf },

    #[error(
        "article {path} has no body paragraph: is it a plain-text copy of a Wikipedia article?"
    )]
    NoBody { path: PathBuf },

    #[error("article {path} has no References list: citebot needs one to cite its answers; copy the article with its References section")]
    NoReferences { path: PathBuf },

    #[error("vocabulary_file {path} does not exist: correct the path in config.toml (a relative path is taken from the config file's folder), or remove the setting to use corpus/vocabulary.toml beside the config when there is one")]
    VocabularyMissing { path: PathBuf },

    #[error("config file {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("config file {path} (named by {named_by}) does not exist: correct the path, or create the file (the repository's config.toml documents every setting); without {named_by}, config.toml in the working directory is read when there is one")]
    ConfigMissing {
        path: PathBuf,
        named_by: &'static str,
    },

    #[error("index folder {path} cannot be written: {source} (check its permissions and free space, or set index_dir in config.toml to another folder)")]
    IndexNotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("index in {path} is unreadable ({message}): run `citebot index` to rebuild it")]
    IndexCorrupt { path: PathBuf, message: String },

    #[error("index error in {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },

    /// The meaning model or the reader (their messages, unchanged).
    #[error(transparent)]
    Meaning(#[from] citebot_meaning::Error),

    #[error("no article named {name:?}: choose one of {choices}")]
    UnknownArticle { name: String, choices: String },

    #[error("the corpus holds several articles: choose one with --article ({choices})")]
    AmbiguousArticle { choices: String },

    #[error(
        "article {article:?} has no reference {number}: its references are numbered 1 to {last}"
    )]
    UnknownReference {
        article: String,
        number: u32,
        last: u32,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a failure may go away by itself: what the exit status tells whoever runs citebot
/// again (a person, a script, systemd's `Restart=`). Carried by each error type (`class()`),
/// so the `citebot` binary maps it to a status without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorClass {
    /// Running the same command again fails the same way until someone changes something: a
    /// configuration or usage error, bad input, a missing or unreadable file.
    #[default]
    Permanent,
    /// Something citebot needs was not ready and may be soon: the listen port is still held
    /// by another process, the database is not reachable yet, the network timed out. Worth
    /// starting again later.
    Transient,
}

impl ErrorClass {
    /// The class of an operating-system error: a busy or not-yet-configured address, a
    /// refused, reset or timed-out connection may pass; anything else (permissions, a missing
    /// file, bad data) will not.
    pub fn of_io(error: &std::io::Error) -> ErrorClass {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::AddrInUse
            | ErrorKind::AddrNotAvailable
            | ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

impl Error {
    /// Whether this error may pass by itself. Every variant is a problem with the corpus, the
    /// index, the model or the settings, which running again does not fix.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::CorpusMissing { .. }
            | Error::CorpusEmpty { .. }
            | Error::DuplicateArticle { .. }
            | Error::StoredArticle { .. }
            | Error::Read { .. }
            | Error::NotUtf8 { .. }
            | Error::EmptyArticle { .. }
            | Error::NoBody { .. }
            | Error::NoReferences { .. }
            | Error::VocabularyMissing { .. }
            | Error::Config { .. }
            | Error::ConfigMissing { .. }
            | Error::IndexNotWritable { .. }
            | Error::IndexCorrupt { .. }
            | Error::Index { .. }
            | Error::Meaning(_)
            | Error::UnknownArticle { .. }
            | Error::AmbiguousArticle { .. }
            | Error::UnknownReference { .. } => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_or_a_refused_connection_is_transient_a_missing_file_is_not() {
        use std::io::{Error as IoError, ErrorKind};
        for kind in [
            ErrorKind::AddrInUse,
            ErrorKind::ConnectionRefused,
            ErrorKind::TimedOut,
        ] {
            assert_eq!(
                ErrorClass::of_io(&IoError::from(kind)),
                ErrorClass::Transient,
                "{kind:?}"
            );
        }
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::PermissionDenied,
            ErrorKind::InvalidData,
        ] {
            assert_eq!(
                ErrorClass::of_io(&IoError::from(kind)),
                ErrorClass::Permanent,
                "{kind:?}"
            );
        }
    }
}
