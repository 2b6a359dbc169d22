//! Helpers shared by every integration test: a temporary folder with its own `config.toml`
//! and index folder over the seed corpus (the shipped one, a copy, or articles the test
//! writes), the debug `citebot` binary pointed at it through `assert_cmd`, and the checks of
//! what a run printed.
//!
//! The fakes the end-to-end tests talk to are modules here too: [`fake_discord`] (REST and the
//! gateway), [`fake_wikipedia`] (MediaWiki's REST API) and [`postgres`] (a real PostgreSQL on
//! loopback).

pub mod discord_spec;
pub mod fake_discord;
pub mod fake_wikipedia;
pub mod postgres;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

/// The seed corpus of the repository (`corpus/`).
pub fn seed_corpus_dir() -> PathBuf {
    repo_root().join("corpus")
}

/// The seed article's text.
pub fn seed_article() -> String {
    fs::read_to_string(seed_corpus_dir().join("calcinosis-cutis.txt"))
        .unwrap_or_else(|error| panic!("the seed article must be readable: {error}"))
}

/// A question the seed article answers, and a word of its answering passage.
pub const ANSWERED_QUESTION: &str = "Is diltiazem used to treat calcinosis cutis?";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Cargo's temporary folder for tests (`target/tmp`, what `CARGO_TARGET_TMPDIR` names for an
/// integration test), found from the running test binary (`target/debug/deps/NAME`).
pub fn target_tmpdir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .find(|folder| folder.file_name().is_some_and(|name| name == "deps"))
        .and_then(|deps| deps.parent()?.parent())
        .unwrap_or_else(|| panic!("{} is not in a cargo target folder", exe.display()));
    let folder = target.join("tmp");
    fs::create_dir_all(&folder)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", folder.display()));
    folder
}

/// Set to `1` to skip, on purpose, the tests that need `../shared` when it is missing.
pub const SKIP_SHARED: &str = "CITEBOT_SKIP_SHARED";

/// `../shared` beside the repository (the evaluation sets, the seeds, the scorer), for a test
/// that needs it. Never a silent pass: when the folder is missing this panics saying what is
/// missing and how to get it, unless `CITEBOT_SKIP_SHARED=1` is set, in which case it says on
/// stderr that the test skipped and returns `None`, and the test returns.
pub fn shared() -> Option<PathBuf> {
    let path = repo_root().join("..").join("shared");
    if path.is_dir() {
        return Some(path);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if std::env::var_os(SKIP_SHARED).is_some_and(|value| value == "1") {
        eprintln!(
            "skipped {test}: {} is missing and {SKIP_SHARED}=1",
            path.display()
        );
        return None;
    }
    panic!(
        "{test} needs ../shared (the shared evaluation sets, seeds and scorer) beside the \
         repository, and {} is missing: put a copy of the shared folder next to the repository \
         (as CI has it), or set {SKIP_SHARED}=1 to skip the tests that need it on purpose",
        path.display()
    )
}

/// A folder with `config.toml` and (once built) `index/`, over a corpus folder: its own
/// `corpus/` inside it, or the shipped one for tests that only read. Deleted on drop.
pub struct Workspace {
    dir: TempDir,
    corpus: PathBuf,
}

impl Workspace {
    /// Over the shipped corpus folder itself: for tests that never change the corpus.
    pub fn shipped() -> Workspace {
        Workspace::new(seed_corpus_dir())
    }

    /// A copy of the whole seed corpus folder (articles and the vocabulary file).
    pub fn with_seed_corpus() -> Workspace {
        let env = Workspace::empty();
        copy_dir(&seed_corpus_dir(), &env.corpus_dir());
        env
    }

    /// A corpus holding only the seed corpus's non-article files (the vocabulary) and `articles`,
    /// given as (file name, bytes).
    pub fn with_articles(articles: &[(&str, &[u8])]) -> Workspace {
        let env = Workspace::empty();
        copy_dir(&seed_corpus_dir(), &env.corpus_dir());
        for entry in read_dir(&env.corpus_dir()) {
            if entry.extension().and_then(|e| e.to_str()) == Some("txt") {
                remove_file(&entry);
            }
        }
        for (name, bytes) in articles {
            env.write_article(name, bytes);
        }
        env
    }

    /// A folder with a config and an empty corpus folder.
    pub fn empty() -> Workspace {
        let env = Workspace::in_temp_dir(|dir| dir.join("corpus"));
        fs::create_dir_all(env.corpus_dir())
            .unwrap_or_else(|error| panic!("cannot create the corpus folder: {error}"));
        env
    }

    fn new(corpus: PathBuf) -> Workspace {
        Workspace::in_temp_dir(|_| corpus)
    }

    fn in_temp_dir(corpus: impl FnOnce(&Path) -> PathBuf) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("citebot-test-")
            .tempdir()
            .unwrap_or_else(|error| panic!("cannot create a temporary folder: {error}"));
        let corpus = corpus(dir.path());
        let env = Workspace { dir, corpus };
        env.write_config("");
        env
    }

    /// Replaces `config.toml` with the corpus and index folders, the corpus's vocabulary file
    /// (when it has one),
    /// and `extra` (more TOML) after them. Folders inside the workspace are written relative
    /// to it, as a user's config would be.
    pub fn write_config(&self, extra: &str) {
        let corpus = self
            .corpus
            .strip_prefix(self.root())
            .unwrap_or(&self.corpus);
        // A vocabulary file named in a config must exist, so it is named only when the corpus
        // has one, as a user's config would.
        let vocabulary = if self.corpus.join("vocabulary.toml").exists() {
            format!("vocabulary_file = {:?}\n", corpus.join("vocabulary.toml"))
        } else {
            String::new()
        };
        let text = format!("corpus_dir = {corpus:?}\nindex_dir = \"index\"\n{vocabulary}{extra}");
        write(&self.config_path(), text.as_bytes());
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.root().join("config.toml")
    }

    pub fn corpus_dir(&self) -> PathBuf {
        self.corpus.clone()
    }

    pub fn index_dir(&self) -> PathBuf {
        self.root().join("index")
    }

    /// Writes (or replaces) an article file of the corpus.
    pub fn write_article(&self, name: &str, bytes: &[u8]) {
        write(&self.corpus_dir().join(name), bytes);
    }

    /// The configuration as the library reads it.
    pub fn config(&self) -> citebot_core::Config {
        citebot_core::Config::load(&self.config_path())
            .unwrap_or_else(|error| panic!("the test config must load: {error}"))
    }

    /// `citebot --config <this config>` with a clean environment for logging and secrets.
    pub fn command(&self) -> assert_cmd::Command {
        let mut command = citebot_command();
        command.arg("--config").arg(self.config_path());
        command
    }

    /// [`Self::command`] with `args`.
    pub fn citebot(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = self.command();
        command.args(args);
        command
    }

    /// Runs citebot with `args`, insists that it fails as bad input or settings do (exit
    /// status 2), and returns what it printed on stderr.
    pub fn error_of(&self, args: &[&str]) -> String {
        let output = run(&mut self.citebot(args));
        assert_eq!(
            output.status.code(),
            Some(2),
            "citebot {args:?}: {output:?}"
        );
        String::from_utf8(output.stderr).expect("stderr is UTF-8")
    }

    /// Runs `citebot index` and insists that it succeeds.
    pub fn build_index(&self) -> Output {
        let output = run(self.command().arg("index"));
        assert_ok(&output, "citebot index");
        output
    }

    /// The generation folder `CURRENT` names.
    pub fn live_generation(&self) -> PathBuf {
        citebot_core::index::current_generation(&self.index_dir())
            .unwrap_or_else(|| panic!("{} has no live generation", self.index_dir().display()))
    }

    /// Names in the index folder, sorted.
    pub fn index_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = read_dir(&self.index_dir())
            .iter()
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// The seed corpus with its index built once per test binary, for tests that only read it.
/// It lives in cargo's per-target temporary folder (a static is never dropped), and copies
/// older than an hour left by earlier runs are removed.
pub fn shared_seed_env() -> &'static SharedEnv {
    static SHARED: OnceLock<SharedEnv> = OnceLock::new();
    SHARED.get_or_init(|| {
        let parent = &target_tmpdir();
        remove_stale_shared_envs(parent);
        let dir = tempfile::Builder::new()
            .prefix("citebot-shared-")
            .tempdir_in(parent)
            .unwrap_or_else(|error| panic!("cannot create a temporary folder: {error}"));
        let env = Workspace {
            corpus: dir.path().join("corpus"),
            dir,
        };
        copy_dir(&seed_corpus_dir(), &env.corpus_dir());
        env.write_config("");
        env.build_index();
        SharedEnv { env }
    })
}

/// [`Workspace`] kept for the whole test run; only reads are safe on it.
pub struct SharedEnv {
    env: Workspace,
}

impl std::ops::Deref for SharedEnv {
    type Target = Workspace;
    fn deref(&self) -> &Workspace {
        &self.env
    }
}

fn remove_stale_shared_envs(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let is_shared = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with("citebot-shared-"));
        let age = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok());
        if is_shared && age.is_some_and(|age| age > Duration::from_secs(3600)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The debug `citebot` binary with logging quiet, backtraces on (so a panic would show in
/// full) and no Discord variables inherited from the developer's shell.
pub fn citebot_command() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::from_std(citebot_std_command(
        &assert_cmd::cargo::cargo_bin("citebot"),
    ));
    command.timeout(Duration::from_secs(120));
    command
}

/// The environment of [`citebot_command`] on the program at `binary` (the debug binary, or a
/// copy of it), as a `std` command for what `assert_cmd` cannot set (the user it runs as).
pub fn citebot_std_command(binary: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    command
        .env_remove("CITEBOT_LOG")
        .env_remove("RUST_LOG")
        .env_remove("CITEBOT_LOG_FORMAT")
        .env_remove("CITEBOT_CONFIG")
        .env_remove("DISCORD_TOKEN")
        .env_remove("CITEBOT_DISCORD_API_BASE")
        .env_remove("CITEBOT_WIKIPEDIA_API_BASE")
        .env("RUST_BACKTRACE", "1")
        .env("NO_COLOR", "1");
    command
}

/// Runs a command to its end and returns its output, whatever its status.
pub fn run(command: &mut assert_cmd::Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("citebot could not be started: {error}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Never a panic or a backtrace, whatever the input.
pub fn assert_no_panic(output: &Output, what: &str) {
    let stderr = stderr(output);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{what}: citebot panicked:\n{stderr}"
    );
    assert_ne!(
        output.status.code(),
        Some(101),
        "{what}: exit status 101 is a panic:\n{stderr}"
    );
}

/// Exit status 0, no panic.
pub fn assert_ok(output: &Output, what: &str) {
    assert_no_panic(output, what);
    assert!(
        output.status.success(),
        "{what}: expected success, got {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        truncate(&stdout(output), 2000),
        truncate(&stderr(output), 2000)
    );
}

/// Exit status 2 with one clear line on stderr: `citebot: <what went wrong>…` that contains
/// every one of `must_mention`. Returns the line.
pub fn assert_clear_error(output: &Output, what: &str, must_mention: &[&str]) -> String {
    assert_no_panic(output, what);
    let stderr = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{what}: expected exit status 2 (error)\nstdout: {}\nstderr: {stderr}",
        truncate(&stdout(output), 2000)
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("citebot: ") || line.starts_with("error:"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one error line on stderr, got:\n{stderr}"
    );
    let line = lines[0].to_string();
    for needle in must_mention {
        assert!(
            line.to_lowercase().contains(&needle.to_lowercase()),
            "{what}: the error line should mention {needle:?}: {line}"
        );
    }
    line
}

/// Parses each stdout line of `search --json` as JSON.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| {
                panic!(
                    "search --json printed a line that is not JSON ({error}): {}",
                    truncate(line, 300)
                )
            })
        })
        .collect()
}

pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Copies the files of `from` (not recursive) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|error| panic!("mkdir {}: {error}", to.display()));
    for path in read_dir(from) {
        if path.is_file() {
            if let Some(name) = path.file_name() {
                fs::copy(&path, to.join(name)).unwrap_or_else(|error| {
                    panic!("copy {} to {}: {error}", path.display(), to.display())
                });
            }
        }
    }
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|error| panic!("mkdir {}: {error}", to.display()));
    for path in read_dir(from) {
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.is_dir() {
            copy_tree(&path, &to.join(name));
        } else {
            fs::copy(&path, to.join(name)).unwrap_or_else(|error| {
                panic!("copy {} to {}: {error}", path.display(), to.display())
            });
        }
    }
}

pub fn read_dir(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect()
}

pub fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
}

pub fn remove_file(path: &Path) {
    fs::remove_file(path).unwrap_or_else(|error| panic!("remove {}: {error}", path.display()));
}

/// A small article unlike the seed one, with its own References, to add to a corpus.
pub fn second_article() -> String {
    "From Wikipedia, the free encyclopedia\n\
     Zorblax fever\n\
     Specialty Infectious disease\n\
     \n\
     Zorblax fever is a made-up illness used to test citebot. It spreads through quokka bites \
     in the imaginary valley of Quendor. [1]\n\
     \n\
     Treatment\n\
     \n\
     Zorblax fever is treated with plimberine tablets for three days. [2]\n\
     \n\
     References\n\
     \n\
       1. ^ Doe J (2020). \"Quokka-borne zorblax fever\". Journal of Imaginary Medicine. 1 (1): 1–2.\n\
       2. ^ Roe R (2021). \"Plimberine for zorblax fever\". Journal of Imaginary Medicine. 2 (1): 3–4.\n"
        .to_string()
}

/// A question only [`second_article`] answers.
pub const SECOND_ARTICLE_QUESTION: &str = "What is zorblax fever treated with?";

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

/// Runs `command` and returns its stdout, whatever its status.
pub fn stdout_of(command: &mut assert_cmd::Command) -> String {
    let output = command.output().expect("citebot runs");
    String::from_utf8(output.stdout).expect("utf-8 output")
}
