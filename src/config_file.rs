//! `config.toml` as a whole: the core's [`Config`] and each surface's own section. This is the
//! one place that knows every section, so the core's settings need not know the surfaces.
//!
//! Each part reads the same text with its own typed parse, so every error keeps its line
//! number: the core reads its keys and returns the top-level keys it did not read; each of
//! those must be a surface's section (`[discord]`, `[http]`), else it is reported as a typo.

use std::path::Path;

use serde::Deserialize;

use citebot_core::config::{toml_error, Config};
use citebot_core::error::{Error, Result};
use citebot_discord::DiscordSettings;
use citebot_http::HttpSettings;
use citebot_wikipedia::WikipediaSettings;

/// The top-level sections that belong to a surface, not to the core.
pub const SURFACE_SECTIONS: &[&str] = &["discord", "http", "wikipedia"];

/// Every setting of `config.toml`.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// The core's settings: corpus, index, passages, search, meaning.
    pub core: Config,
    /// `[discord]`: the gateway bot and the interactions it answers.
    pub discord: DiscordSettings,
    /// `[http]`: `citebot serve`.
    pub http: HttpSettings,
    /// `[wikipedia]`: `citebot add` and `citebot refresh`.
    pub wikipedia: WikipediaSettings,
}

/// The surfaces' sections, read from the whole text (the core's keys are skipped here: the
/// core's own parse checks them).
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    discord: DiscordSettings,
    #[serde(default)]
    http: HttpSettings,
    #[serde(default)]
    wikipedia: WikipediaSettings,
}

impl ConfigFile {
    /// Reads `path`. Relative paths in it are taken relative to the file's folder, so citebot
    /// works from any working directory.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file = ConfigFile::parse(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        file.core.resolve_relative_to(base);
        file.discord.resolve_relative_to(base);
        Ok(file)
    }

    /// Parses the text of a config file; the error is a one-line message.
    pub fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
        let (core, unread) = Config::parse_core(text)?;
        if let Some(unknown) = unread
            .iter()
            .find(|key| !SURFACE_SECTIONS.contains(&key.as_str()))
        {
            return Err(format!(
                "unknown setting `{unknown}` at the top level: the settings are corpus_dir, index_dir, vocabulary_file, ranker_file and the sections [passages], [search], [meaning], {} (config.toml documents each)",
                SURFACE_SECTIONS
                    .iter()
                    .map(|section| format!("[{section}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let sections: Sections = toml::from_str(text).map_err(|error| toml_error(text, &error))?;
        sections.discord.validate()?;
        sections.http.validate()?;
        sections.wikipedia.validate()?;
        Ok(ConfigFile {
            core,
            discord: sections.discord,
            http: sections.http,
            wikipedia: sections.wikipedia,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_config_parses_whole() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
            .expect("config.toml in the repository");
        let file = ConfigFile::parse(&text).expect("the shipped config parses");
        assert_eq!(file.core.search.top, Config::default().search.top);
    }

    #[test]
    fn a_vocabulary_file_set_in_the_file_is_named_and_resolved_from_its_folder() {
        use citebot_core::config::VocabularyFile;
        use std::path::PathBuf;
        let file = ConfigFile::parse("corpus_dir = \"corpus\"\n").unwrap();
        assert_eq!(file.core.vocabulary_file, VocabularyFile::default());
        let mut file = ConfigFile::parse("vocabulary_file = \"words.toml\"\n").unwrap();
        file.core
            .resolve_relative_to(std::path::Path::new("/srv/citebot"));
        assert_eq!(
            file.core.vocabulary_file,
            VocabularyFile::Named(PathBuf::from("/srv/citebot/words.toml"))
        );
    }

    #[test]
    fn a_typo_at_the_top_level_is_named() {
        let error = ConfigFile::parse("corpus_dri = \"corpus\"\n").unwrap_err();
        assert!(error.contains("`corpus_dri`"), "{error}");
        let error = ConfigFile::parse("[serach]\ntop = 3\n").unwrap_err();
        assert!(error.contains("`serach`"), "{error}");
    }

    #[test]
    fn a_typo_inside_a_section_keeps_its_line() {
        let error = ConfigFile::parse("[search]\ntop = 3\ntpo = 4\n").unwrap_err();
        assert!(error.starts_with("line 3"), "{error}");
        let error = ConfigFile::parse("[discord]\ncooldown_secs = 4\n").unwrap_err();
        assert!(error.starts_with("line 2"), "{error}");
        let error = ConfigFile::parse("[http]\nlisten = 3\n").unwrap_err();
        assert!(error.starts_with("line 2"), "{error}");
        let error =
            ConfigFile::parse("[wikipedia]\norigin = \"https://en.wikipedia.org\"\norgin = 1\n")
                .unwrap_err();
        assert!(error.starts_with("line 3"), "{error}");
    }

    #[test]
    fn each_part_gets_its_own_section() {
        let file = ConfigFile::parse(
            "index_dir = \"idx\"\n[discord]\ntop = 2\n[http]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        assert_eq!(file.core.index_dir, std::path::PathBuf::from("idx"));
        assert_eq!(file.discord.top, 2);
        assert_eq!(file.http.listen, "127.0.0.1:9000");
    }

    #[test]
    fn secrets_are_refused_in_every_section() {
        for text in ["[http]\npassword = \"x\"\n", "[discord]\ntoken = \"x\"\n"] {
            let error = ConfigFile::parse(text).unwrap_err();
            assert!(error.contains("secrets never go in config.toml"), "{error}");
        }
    }
}
