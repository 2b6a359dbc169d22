//! Criterion benchmarks of the in-process paths: answering a question by kind (the eval's dev
//! questions over the shipped article), answering and rendering it as `citebot ask` prints it,
//! and rebuilding the index. Percentiles (p50/p99) come from `citebot-bench latency`; these are
//! for spotting regressions between two runs (`cargo bench --bench query -- --save-baseline`).
//!
//! The index is built in a temporary folder: the repository's `index/` is never touched.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use citebot_core::index::{self, RebuildOptions};
use citebot_core::{Config, Engine};
use citebot_presentation::terminal as render;

struct Question {
    query: String,
    kind: String,
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The dev questions (`../shared/eval/dev.jsonl`), or a few stand-ins when it is absent.
fn questions() -> Vec<Question> {
    let path = root().join("../shared/eval/dev.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return [
            ("Can varicose veins lead to calcinosis?", "factoid"),
            ("what is diltiazem", "factoid"),
            ("how do i fix my car", "unanswerable"),
        ]
        .into_iter()
        .map(|(query, kind)| Question {
            query: query.to_string(),
            kind: kind.to_string(),
        })
        .collect();
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("dev.jsonl is JSON");
            Question {
                query: value["query"].as_str().unwrap_or_default().to_string(),
                kind: value["kind"].as_str().unwrap_or("any").to_string(),
            }
        })
        .collect()
}

fn config(index_dir: PathBuf) -> Config {
    let mut config = Config::load(&root().join("config.toml")).expect("config.toml loads");
    config.index_dir = index_dir;
    config
}

fn answering(c: &mut Criterion) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = config(folder.path().join("index"));
    let engine = Engine::open(&config).expect("engine opens");
    let questions = questions();
    let mut kinds: Vec<&str> = questions.iter().map(|q| q.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();

    let mut group = c.benchmark_group("ask");
    group.measurement_time(Duration::from_secs(3));
    for kind in &kinds {
        let of_kind: Vec<&str> = questions
            .iter()
            .filter(|q| q.kind == *kind)
            .map(|q| q.query.as_str())
            .collect();
        group.throughput(Throughput::Elements(of_kind.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(kind), &of_kind, |b, of_kind| {
            b.iter(|| {
                for question in of_kind {
                    std::hint::black_box(engine.ask(question, 3));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("ask_and_render");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(questions.len() as u64));
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    group.bench_function("all", |b| {
        b.iter(|| {
            for question in &questions {
                out.clear();
                let answer = engine.ask(&question.query, 3);
                render::write_answer(&mut out, &engine, &answer, render::Style::Plain)
                    .expect("render into memory");
                std::hint::black_box(&out);
            }
        })
    });
    group.finish();
}

fn rebuilding(c: &mut Criterion) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = config(folder.path().join("index"));
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.bench_function("rebuild_seed_article", |b| {
        b.iter(|| index::rebuild(&config, RebuildOptions::default()).expect("rebuild"))
    });
    group.finish();
}

criterion_group!(benches, answering, rebuilding);
criterion_main!(benches);
