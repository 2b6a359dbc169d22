//! Helpers shared by the integration tests: a private index folder per test, over the real
//! shipped corpus (or a corpus the test writes), and the `citebot` binary pointed at it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository (the development questions and the scorer).
pub fn shared() -> PathBuf {
    root().join("..").join("shared")
}

/// A temporary place with a config.toml whose index lives inside it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub corpus: PathBuf,
}

impl Workspace {
    /// Over the shipped corpus (read-only use).
    pub fn shipped() -> Workspace {
        Workspace::with_corpus(root().join("corpus"))
    }

    /// Over a fresh copy of the shipped corpus that the test may change.
    pub fn copied() -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let corpus = dir.path().join("corpus");
        std::fs::create_dir_all(&corpus).expect("corpus dir");
        for name in ["calcinosis-cutis.txt", "vocabulary.toml"] {
            std::fs::copy(root().join("corpus").join(name), corpus.join(name)).expect("copy");
        }
        let workspace = Workspace { dir, corpus };
        workspace.write_config("");
        workspace
    }

    fn with_corpus(corpus: PathBuf) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let workspace = Workspace { dir, corpus };
        workspace.write_config("");
        workspace
    }

    /// Rewrites config.toml with the paths and `extra` TOML appended.
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "corpus_dir = {:?}\nindex_dir = {:?}\nvocabulary_file = {:?}\n{extra}",
            self.corpus,
            self.index_dir(),
            self.corpus.join("vocabulary.toml"),
        );
        std::fs::write(self.config(), text).expect("write config");
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    /// `citebot --config <this workspace's config> ARGS…`.
    pub fn citebot(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("citebot").expect("citebot binary");
        command.arg("--config").arg(self.config()).args(args);
        command.env("NO_COLOR", "1").env_remove("CITEBOT_LOG");
        command
    }

    /// The library's config for this workspace.
    pub fn load_config(&self) -> citebot::Config {
        citebot::Config::load(&self.config()).expect("config loads")
    }
}

/// Replaces what changes from run to run (timings, temp paths) so output can be snapshotted.
pub fn redact(text: &str, workspace: &Path) -> String {
    let text = text.replace(&workspace.display().to_string(), "[WORKSPACE]");
    let timings = regex::Regex::new(r#"\d+ ms|\d+ µs|"took_us":\d+"#).expect("regex");
    let text = timings.replace_all(&text, |captures: &regex::Captures| {
        if captures[0].starts_with('"') {
            "\"took_us\":[US]".to_string()
        } else {
            "[TIME]".to_string()
        }
    });
    let generation = regex::Regex::new(r"gen-\d+-\d+").expect("regex");
    generation.replace_all(&text, "gen-[ID]").into_owned()
}

pub fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("citebot runs");
    String::from_utf8(output.stdout).expect("utf-8 output")
}
