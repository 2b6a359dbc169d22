//! The same question gets the same answer in every process: separate `citebot search --json
//! --top 10 -` runs over one index answer a few thousand questions byte for byte alike (the
//! `took_us` timing aside), on the seed article and on a real Wikipedia article of
//! `../shared/eval/squad/`.
//!
//! Why separate processes: an ordering that leaks from a `HashMap` (its seed is drawn per
//! process) is the same for every question inside one process, so only two processes show it.
//! Issue 12 found one: vocabulary keys that stem alike ("treat"/"treated"/"treating",
//! "work"/"worked", "drug"/"drugs") tied, and whichever the map gave first won. So the
//! questions here are the shared sets' own, plus variations of them, generated with a fixed
//! seed, that carry those words.

use citebot_test_support as common;

use std::path::{Path, PathBuf};

use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// Separate processes compared. A tie broken by a per-process hash order goes the same way in
/// two processes about one time in two or three, and thousands of questions carrying such ties
/// are asked, so two processes show a leak with near certainty (issue 12's leak changed 118
/// top-10 lists of 10,326 questions); a third process doubled the test's time (a seventh of a
/// cold CI run) for a chance too small to measure.
const PROCESSES: usize = 2;

/// Words of vocabulary keys that stem alike (see the module docs); variations put them into
/// questions so those rules fire often.
const STEM_ALIKE_WORDS: &[&str] = &[
    "work",
    "worked",
    "treat",
    "treated",
    "treating",
    "drug",
    "drugs",
    "start",
    "starts",
    "leg",
    "legs",
    "teenager",
    "teenagers",
    "bump",
    "bumps",
];

/// The article of `../shared/eval/squad/` asked about: a long article with many questions.
const SQUAD_ARTICLE: &str = "07-martin-luther";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}; the determinism test needs the shared eval sets beside \
             the repository (../shared), as CI has them",
            path.display()
        )
    })
}

/// The `query` of each line of a JSONL question set.
fn queries(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let question: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{}: bad JSON line: {error}", path.display()));
            let query = question["query"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: a line without \"query\"", path.display()));
            // One question per input line, as `search -` reads them.
            query.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// `questions`, then variations of them up to `wanted` in all: a word dropped, the words
/// shuffled, a stem-alike word put in or swapped for its twin. The seed is fixed, so every
/// run asks the same questions.
fn with_variations(questions: &[String], wanted: usize) -> Vec<String> {
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut all = questions.to_vec();
    while all.len() < wanted {
        let original = &questions[rng.random_range(0..questions.len())];
        let mut words: Vec<&str> = original.split(' ').collect();
        let stem_alike = STEM_ALIKE_WORDS[rng.random_range(0..STEM_ALIKE_WORDS.len())];
        match rng.random_range(0..4) {
            0 if words.len() > 2 => {
                words.remove(rng.random_range(0..words.len()));
            }
            1 => {
                for index in (1..words.len()).rev() {
                    words.swap(index, rng.random_range(0..=index));
                }
            }
            2 => {
                let index = rng.random_range(0..words.len());
                words[index] = stem_alike;
            }
            _ => {
                words.insert(rng.random_range(0..=words.len()), stem_alike);
            }
        }
        all.push(words.join(" "));
    }
    all
}

/// `--config` for a corpus folder with its own index folder, using the shipped vocabulary
/// (without it there is nothing to tie).
fn write_config(dir: &Path, corpus: &Path) -> PathBuf {
    let config = dir.join("config.toml");
    let text = format!(
        "corpus_dir = {:?}\nindex_dir = {:?}\nvocabulary_file = {:?}\n",
        corpus,
        dir.join("index"),
        common::repo_root().join("corpus").join("vocabulary.toml"),
    );
    std::fs::write(&config, text).expect("write config");
    config
}

fn citebot(config: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("citebot").expect("citebot binary");
    command
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .env_remove("CITEBOT_LOG");
    command
}

/// One process's answers, one JSON line per question, timings removed.
fn answers(config: &Path, input: &str) -> Vec<String> {
    let output = citebot(config)
        .args(["search", "--json", "--top", "10", "-"])
        .write_stdin(input)
        .output()
        .expect("citebot runs");
    assert!(
        output.status.success(),
        "search - failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let took = regex::Regex::new(r#""took_us":\d+,?"#).expect("regex");
    String::from_utf8(output.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|line| took.replace(line, "").into_owned())
        .collect()
}

/// Builds the index once, then asks every question in [`PROCESSES`] separate processes and
/// fails on the first answer that differs from the first process's.
fn assert_processes_agree(name: &str, corpus: &Path, questions: &[String]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), corpus);
    citebot(&config).arg("index").assert().success();
    let input: String = questions.iter().map(|q| format!("{q}\n")).collect();

    let first = answers(&config, &input);
    assert_eq!(
        first.len(),
        questions.len(),
        "{name}: one answer per question"
    );
    for process in 2..=PROCESSES {
        let again = answers(&config, &input);
        assert_eq!(
            again.len(),
            questions.len(),
            "{name}: one answer per question"
        );
        let differing: Vec<usize> = (0..questions.len())
            .filter(|&i| first[i] != again[i])
            .collect();
        if let Some(&i) = differing.first() {
            panic!(
                "{name}: process {process} answered {} of {} questions differently from \
                 process 1; the first is line {}, {:?}:\nprocess 1: {}\nprocess {process}: {}",
                differing.len(),
                questions.len(),
                i + 1,
                questions[i],
                first[i],
                again[i]
            );
        }
    }
}

#[test]
fn the_seed_answers_alike_in_every_process() {
    let Some(shared) = common::shared() else {
        return;
    };
    let questions = queries(&shared.join("eval").join("dev.jsonl"));
    let questions = with_variations(&questions, 2000);
    let corpus = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        common::repo_root()
            .join("corpus")
            .join("calcinosis-cutis.txt"),
        corpus.path().join("calcinosis-cutis.txt"),
    )
    .expect("copy the seed article");
    assert_processes_agree("seed", corpus.path(), &questions);
}

#[test]
fn a_squad_article_answers_alike_in_every_process() {
    let Some(shared) = common::shared() else {
        return;
    };
    let squad = shared.join("eval").join("squad");
    let questions = queries(
        &squad
            .join("questions")
            .join(format!("{SQUAD_ARTICLE}.jsonl")),
    );
    let questions = with_variations(&questions, 1000);
    let corpus = tempfile::tempdir().expect("temp dir");
    let file = format!("{SQUAD_ARTICLE}.txt");
    std::fs::copy(
        squad.join("articles").join(&file),
        corpus.path().join(&file),
    )
    .expect("copy the squad article");
    assert_processes_agree("squad", corpus.path(), &questions);
}
