//! What can go wrong loading the model or a reader. Messages say what to do; the core wraps
//! these unchanged, so a user sees the same line whichever layer reports it.

use std::path::PathBuf;

/// Errors of the meaning step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("meaning model file {path} not found: run scripts/install-model.sh, or set CITEBOT_MODEL_DIR to the folder it installed into")]
    ModelMissing { path: PathBuf },

    #[error("meaning model file {path} is unusable ({message}): delete the model folder and run scripts/install-model.sh again")]
    ModelInvalid { path: PathBuf, message: String },

    #[error("reader file {path} (`[meaning] reader_file` in config.toml) is unusable: {message}; point `reader_file` at a file scripts/train_reader.py wrote, or remove the line to use the reader built into citebot")]
    ReaderInvalid { path: PathBuf, message: String },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The meaning step's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
