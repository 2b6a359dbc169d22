//! The benchmarks at toy sizes, so their code cannot rot: a synthetic corpus of a few articles is
//! generated, indexed and queried in process, and `citebot-bench` runs its scale and latency
//! commands end to end. Only sanity is checked here, never speed (no timed tests).

use std::path::{Path, PathBuf};
use std::time::Duration;

use citebot_bench::synth::{self, SynthOptions, WordDistribution};
use citebot_core::index::{self, RebuildOptions};
use citebot_core::{Config, Engine};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn seed_words() -> WordDistribution {
    let seed = std::fs::read_to_string(root().join("corpus/calcinosis-cutis.txt"))
        .expect("the seed article is in corpus/");
    WordDistribution::with_spread_seed_words(&seed, 20_000, 1.0)
}

/// A config over `corpus` and `index` (the repository's settings otherwise), words only: a
/// synthetic corpus's generated words mean nothing to the sentence-embedding model, and
/// embedding its passages in a debug build was most of this suite's time (the meaning step has
/// its own tests, on real articles, in crates/meaning/tests/it/meaning.rs).
fn config_for(corpus: &Path, index: &Path) -> Config {
    let mut config =
        citebot_core::Config::load(&root().join("config.toml")).expect("config.toml loads");
    config.corpus_dir = corpus.to_path_buf();
    config.index_dir = index.to_path_buf();
    config.meaning.enabled = false;
    config
}

/// Questions about the seed article: their words are the head of the synthetic vocabulary.
const QUESTIONS: &[&str] = &[
    "Can varicose veins lead to calcinosis?",
    "what is diltiazem used for",
    "calcium phosphate nodules in the skin",
    "@bot whats the PMID of the scrotal calcinosis paper",
    "how do i fix my car",
];

#[test]
fn a_synthetic_corpus_indexes_and_answers() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let corpus = folder.path().join("corpus");
    let options = SynthOptions {
        threads: 2,
        ..SynthOptions::default()
    };
    let stats = synth::write_corpus(&corpus, 120, &seed_words(), &options).expect("corpus");
    assert_eq!(stats.passages(), 120);
    assert!(stats.articles >= 2, "120 passages make several articles");

    let config = config_for(&corpus, &folder.path().join("index"));
    let report = index::rebuild(&config, RebuildOptions::default()).expect("index builds");
    let manifest = &report.manifest;
    assert_eq!(manifest.articles, stats.articles);
    assert_eq!(manifest.passages + manifest.references, stats.passages());
    assert!(
        manifest.warnings.is_empty(),
        "synthetic articles parse cleanly: {:?}",
        manifest.warnings
    );

    let engine = Engine::open(&config).expect("engine opens");
    let mut answered = 0;
    for question in QUESTIONS {
        let answer = engine.ask(question, 3);
        assert!(answer.took > Duration::ZERO && answer.took < Duration::from_secs(5));
        assert!(answer.hits.len() <= 3);
        answered += usize::from(answer.answered());
    }
    assert!(
        answered >= 1,
        "some question about common words is answered"
    );
}

fn bench_command() -> assert_cmd::Command {
    let mut command =
        assert_cmd::Command::cargo_bin("citebot-bench").expect("citebot-bench builds");
    command.current_dir(root()).env("CITEBOT_LOG", "error");
    command
}

fn json_of(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("one JSON object")
}

#[test]
fn the_scale_run_reports_sane_figures_at_a_toy_size() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let questions = folder.path().join("questions.txt");
    std::fs::write(&questions, QUESTIONS.join("\n")).expect("questions written");
    let out = folder.path().join("scale.jsonl");
    let output = bench_command()
        .args([
            "scale",
            "--sizes",
            "80",
            "--queries",
            "20",
            "--tail-words",
            "5000",
        ])
        .arg("--work")
        .arg(folder.path().join("work"))
        .arg("--questions")
        .arg(&questions)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("citebot-bench runs");
    assert!(
        output.status.success(),
        "scale failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("| passages |"), "prints a table: {table}");

    let result = json_of(&std::fs::read(&out).expect("results written"));
    let build = &result["build"];
    let query = &result["query"];
    assert_eq!(build["passages"], 80);
    assert!(build["build_s"].as_f64().unwrap() > 0.0);
    assert!(build["passages_per_s"].as_f64().unwrap() > 0.0);
    assert!(build["process"]["peak_rss_mb"].as_f64().unwrap() > 1.0);
    assert!(result["index_mb"].as_f64().unwrap() > 0.0);
    let latency = &query["latency"];
    assert_eq!(latency["samples"], 20);
    let (p50, p99) = (
        latency["p50_us"].as_f64().unwrap(),
        latency["p99_us"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "p50 {p50} µs, p99 {p99} µs");
    assert!(query["index_open_ms"].as_f64().unwrap() > 0.0);
    assert!(build["segments"].as_u64().unwrap() >= 1);
    assert!(query["check_files"].as_u64().unwrap() >= 1);
    assert!(
        query["check_rehashed_files"].as_u64().unwrap() <= query["check_files"].as_u64().unwrap()
    );
}

#[test]
fn latency_and_questions_commands_run_on_the_seed_article() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = folder.path().join("config.toml");
    let corpus = root().join("corpus");
    std::fs::write(
        &config,
        format!(
            "corpus_dir = {:?}\nindex_dir = {:?}\n",
            corpus.display().to_string(),
            folder.path().join("index").display().to_string()
        ),
    )
    .expect("config written");
    let questions = folder.path().join("questions");
    let seed_questions = folder.path().join("seed.txt");
    std::fs::write(&seed_questions, QUESTIONS.join("\n")).expect("questions written");
    let output = bench_command()
        .args(["questions", "--count", "50"])
        .arg("--from")
        .arg(&seed_questions)
        .arg("--out")
        .arg(&questions)
        .output()
        .expect("citebot-bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = std::fs::read_to_string(questions.with_extension("txt")).expect("questions");
    let distinct: std::collections::HashSet<&str> = lines.lines().collect();
    assert_eq!(distinct.len(), 50, "50 distinct questions");

    let report = folder.path().join("latency.json");
    let output = bench_command()
        .args(["latency", "--samples", "100"])
        .arg("--config")
        .arg(&config)
        .arg("--questions")
        .arg(questions.with_extension("jsonl"))
        .arg("--json")
        .arg(&report)
        .output()
        .expect("citebot-bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    let all = report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["kind"] == "all"))
        .expect("an `all` row");
    assert!(all["ask"]["samples"].as_u64().unwrap() >= 100);
    assert!(
        all["ask"]["p50_us"].as_f64().unwrap() <= all["ask_and_render"]["p99_us"].as_f64().unwrap()
    );
}

/// Every document of the live index as (id, ordinal, stored bytes), sorted by ordinal.
fn index_contents(config: &Config) -> Vec<(String, u64, Vec<u8>)> {
    use tantivy::schema::Value;
    let open = index::open(&config.index_dir).expect("index opens");
    let searcher = open.reader.searcher();
    let mut documents = Vec::new();
    for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
        let ordinals = segment
            .fast_fields()
            .u64("ordinal")
            .expect("ordinal column");
        let store = segment.get_store_reader(0).expect("store");
        for doc in 0..segment.max_doc() {
            let document: tantivy::TantivyDocument = store.get(doc).expect("stored document");
            let id = document
                .get_first(open.fields.id)
                .and_then(|v| v.as_str())
                .expect("id")
                .to_string();
            let payload = document
                .get_first(open.fields.payload)
                .and_then(|v| v.as_bytes())
                .expect("payload")
                .to_vec();
            let _ = ordinal;
            documents.push((id, ordinals.first(doc).expect("an ordinal"), payload));
        }
    }
    documents.sort_by_key(|(_, ordinal, _)| *ordinal);
    documents
}

/// Articles are parsed by several threads and added as they come: the index must not depend
/// on which thread finished first.
#[test]
fn rebuilding_twice_gives_the_same_documents_and_ordinals() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let corpus = folder.path().join("corpus");
    let stats =
        synth::write_corpus(&corpus, 400, &seed_words(), &SynthOptions::default()).expect("corpus");
    let config = config_for(&corpus, &folder.path().join("index"));
    index::rebuild(&config, RebuildOptions::default()).expect("first build");
    let first = index_contents(&config);
    index::rebuild(&config, RebuildOptions::default()).expect("second build");
    let second = index_contents(&config);
    assert_eq!(first.len(), stats.passages() + stats.articles);
    assert!(first == second, "two builds of one corpus differ");
    let ordinals: Vec<u64> = first.iter().map(|(_, ordinal, _)| *ordinal).collect();
    assert_eq!(ordinals, (0..first.len() as u64).collect::<Vec<_>>());
    // Reading order: each article's record, then its passages.
    let mut slugs: Vec<&str> = first
        .iter()
        .filter_map(|(id, _, _)| id.strip_suffix("#article"))
        .collect();
    let listed = slugs.clone();
    slugs.sort_unstable();
    assert_eq!(listed, slugs, "articles in file-name order");
}

/// Article records are read per article on demand, not all at open.
#[test]
fn article_records_are_served_on_demand() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let corpus = folder.path().join("corpus");
    let stats =
        synth::write_corpus(&corpus, 300, &seed_words(), &SynthOptions::default()).expect("corpus");
    let config = config_for(&corpus, &folder.path().join("index"));
    let engine = Engine::open(&config).expect("engine opens");
    assert_eq!(engine.article_count(), stats.articles);
    let articles = engine.articles();
    assert_eq!(articles.len(), stats.articles);
    for info in &articles {
        assert_eq!(engine.article_info(&info.slug).as_ref(), Some(info));
        let citations = engine.citations(Some(&info.slug)).expect("by slug");
        assert_eq!(citations.len(), info.references);
        let by_title = engine
            .citations(Some(&info.title.to_ascii_uppercase()))
            .expect("by title, any ASCII case");
        assert_eq!(by_title, citations);
        assert_eq!(engine.citations_of(&info.slug), citations);
        let first = citations.first().expect("synthetic articles cite");
        assert_eq!(
            engine.citation_of(&info.slug, first.number).as_ref(),
            Some(first)
        );
    }
    assert!(engine.article_info("no-such-article").is_none());
    let error = engine
        .citations(Some("no-such-article"))
        .unwrap_err()
        .to_string();
    assert!(error.contains(&articles[0].slug), "{error}");
    assert!(
        engine.citations(None).is_err(),
        "several articles: ambiguous"
    );
}
