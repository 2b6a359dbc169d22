//! The core's settings: the corpus, the index, passages, search and meaning, read from
//! `config.toml`. Every setting has a default, so a missing file or section is fine; an unknown
//! key is an error (a typo should not be silently ignored). Secrets never live here: the
//! Discord token comes from the environment.
//!
//! The core knows no surface. The surfaces' sections of the same file (`[discord]`, `[http]`)
//! are theirs: [`Config::parse_core`] hands the top-level keys it does not read back to its
//! caller, the binary's `config_file`, which gives each to the surface that owns it and reports any
//! other as a typo.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::article::PassageLimits;
/// `[meaning]`: its settings are the meaning crate's, read here with the core's.
pub use citebot_meaning::MeaningSettings;

/// The core's settings. Unknown keys inside its sections are errors (`deny_unknown_fields`);
/// unknown top-level keys are collected by [`Config::parse_core`] for the surfaces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Folder of `*.txt` articles.
    pub corpus_dir: PathBuf,
    /// Folder the index is built in (generated; safe to delete).
    pub index_dir: PathBuf,
    /// Synonyms and specific terms applied to questions (see corpus/vocabulary.toml).
    pub vocabulary_file: VocabularyFile,
    /// A ranker trained by scripts/train.py; `None` is the one shipped in the binary
    /// (data/ranker.json).
    pub ranker_file: Option<PathBuf>,
    pub passages: PassageSettings,
    pub search: SearchSettings,
    pub meaning: MeaningSettings,
}

/// Where the vocabulary is read from. The vocabulary is an aid, so a config that does not name
/// one may have none; but a file the config names must be there: a wrong path silently read as
/// "no vocabulary" costs answers without a word (on dev.jsonl R@1 falls from 0.88 to 0.71).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "PathBuf")]
pub enum VocabularyFile {
    /// Not set: `corpus/vocabulary.toml` beside the config, read when it exists.
    Default(PathBuf),
    /// Set in the config (`vocabulary_file = "…"`): a missing file is an error.
    Named(PathBuf),
}

impl VocabularyFile {
    pub fn path(&self) -> &Path {
        match self {
            VocabularyFile::Default(path) | VocabularyFile::Named(path) => path,
        }
    }

    fn path_mut(&mut self) -> &mut PathBuf {
        match self {
            VocabularyFile::Default(path) | VocabularyFile::Named(path) => path,
        }
    }
}

impl Default for VocabularyFile {
    fn default() -> Self {
        VocabularyFile::Default(PathBuf::from("corpus/vocabulary.toml"))
    }
}

impl From<PathBuf> for VocabularyFile {
    fn from(path: PathBuf) -> Self {
        VocabularyFile::Named(path)
    }
}

/// How articles are cut into passages.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassageSettings {
    pub max_passage_bytes: usize,
}

/// How questions are matched. The ranking itself and the decision to answer are learned
/// (crates/core/src/ranker.rs); these shape which candidates it sees.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Passages shown by default.
    pub top: usize,
    /// Candidates fetched from the index before re-ranking.
    pub candidates: usize,
    /// Longer questions are cut to this many characters (a pasted wall of text is still
    /// answered, from its beginning).
    pub max_question_chars: usize,
    /// At most this many distinct words of a question are searched.
    pub max_query_terms: usize,
    /// Weight of a synonym or abbreviation expansion relative to the user's own word.
    pub synonym_weight: f32,
    /// Weight of a spelling correction relative to an exact word.
    pub fuzzy_weight: f32,
    /// Boost of a match in the section headings.
    pub section_boost: f32,
    /// Boost of a match in the article title and other names.
    pub title_boost: f32,
    /// Weight of a question word the corpus does not contain at all, relative to the rarest
    /// word it does contain. Such words are often what the question is really about ("laser",
    /// "insurance"), so they count against answering; but people also use filler words.
    pub unknown_word_weight: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            corpus_dir: PathBuf::from("corpus"),
            index_dir: PathBuf::from("index"),
            vocabulary_file: VocabularyFile::default(),
            ranker_file: None,
            passages: PassageSettings::default(),
            search: SearchSettings::default(),
            meaning: MeaningSettings::default(),
        }
    }
}

impl Default for PassageSettings {
    fn default() -> Self {
        PassageSettings {
            max_passage_bytes: PassageLimits::default().max_passage_bytes,
        }
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            top: 3,
            candidates: 20,
            max_question_chars: 2000,
            max_query_terms: 48,
            synonym_weight: 0.5,
            fuzzy_weight: 0.7,
            section_boost: 1.5,
            title_boost: 0.5,
            unknown_word_weight: 0.7,
        }
    }
}

impl Config {
    /// Parses the core's settings from the text of `config.toml`, and returns with them the
    /// top-level keys it does not read (the surfaces' sections, or typos), in file order of
    /// their names. The error is a one-line message with the line number.
    pub fn parse_core(text: &str) -> std::result::Result<(Config, Vec<String>), String> {
        refuse_secrets(text)?;
        let deserializer =
            toml::Deserializer::parse(text).map_err(|error| toml_error(text, &error))?;
        let mut unread = Vec::new();
        let config: Config = serde_ignored::deserialize(deserializer, |path| {
            unread.push(path.to_string());
        })
        .map_err(|error| toml_error(text, &error))?;
        config.validate()?;
        // serde_ignored reports a key once per ignored value below it; only the top-level
        // name matters here (a nested unknown key inside a core section is already an error).
        let mut top_level: Vec<String> = unread
            .into_iter()
            .map(|path| path.split('.').next().unwrap_or_default().to_string())
            .collect();
        top_level.sort();
        top_level.dedup();
        Ok((config, top_level))
    }

    /// Reads the core's settings from the config file at `path`, its relative paths taken from
    /// the file's folder. The top-level keys the core does not read are not checked here: they
    /// are the surfaces' sections, which the binary reads and checks as a whole. For tools that
    /// use only the core (the benchmarks).
    pub fn load(path: &Path) -> crate::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (mut config, _surfaces) =
            Config::parse_core(&text).map_err(|message| crate::Error::Config {
                path: path.to_path_buf(),
                message,
            })?;
        config.resolve_relative_to(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let search = &self.search;
        if search.top == 0 || search.top > 50 {
            return Err(format!(
                "search.top = {} must be between 1 and 50",
                search.top
            ));
        }
        if search.candidates < search.top {
            return Err("search.candidates must be at least search.top".to_string());
        }
        if self.passages.max_passage_bytes < 200 {
            return Err("passages.max_passage_bytes must be at least 200".to_string());
        }
        Ok(())
    }

    /// Makes the relative paths relative to `base`, the config file's folder, so citebot
    /// works from any working directory.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        for path in [
            &mut self.corpus_dir,
            &mut self.index_dir,
            self.vocabulary_file.path_mut(),
        ]
        .into_iter()
        .chain(self.ranker_file.as_mut())
        .chain(self.meaning.model_dir.as_mut())
        .chain(self.meaning.reader_file.as_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The passage limits for the article parser.
    pub fn passage_limits(&self) -> PassageLimits {
        PassageLimits {
            max_passage_bytes: self.passages.max_passage_bytes,
        }
    }
}

/// A TOML error as one line: "line N: message".
pub fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

/// Keys that would hold a secret. The error names the key, never its value.
const SECRET_KEYS: &[&str] = &["token", "bot_token", "discord_token", "secret", "password"];

/// Refuses a config that holds a secret: secrets come from the environment only, so that a
/// config file can be shared, committed or pasted into a bug report safely.
fn refuse_secrets(text: &str) -> std::result::Result<(), String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        // Not TOML at all: the typed parse reports where.
        return Ok(());
    };
    fn walk(table: &toml::Table, prefix: &str) -> Option<String> {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if SECRET_KEYS.contains(&key.to_lowercase().as_str()) {
                return Some(path);
            }
            if let toml::Value::Table(inner) = value {
                if let Some(found) = walk(inner, &path) {
                    return Some(found);
                }
            }
        }
        None
    }
    match walk(&table, "") {
        Some(key) => Err(format!(
            "{key}: secrets never go in config.toml; remove the line and put the Discord token in the environment variable named by discord.token_env (DISCORD_TOKEN by default)"
        )),
        None => Ok(()),
    }
}
