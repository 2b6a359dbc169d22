//! `citebot-bench`: the benchmarks that need more than criterion gives — percentiles by question
//! kind, synthetic corpora, and the scale curve with each build and each reader in its own
//! process (so peak RSS is that step's own). `scripts/bench.sh` runs them all; see BENCHMARKS.md.
//!
//! Linux only: peak RSS and CPU time come from `/proc/self`.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use citebot_bench::synth::{self, Rng, SynthOptions, WordDistribution};
use citebot_core::config::Config;
use citebot_core::engine::Engine;
use citebot_core::index::{self, RebuildOptions};
use citebot_presentation::terminal as render;

/// Benchmarks for citebot (see BENCHMARKS.md).
#[derive(Debug, Parser)]
#[command(name = "citebot-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic corpus of N passages (articles in the corpus format).
    Synth {
        #[arg(long)]
        passages: usize,
        /// Folder to write `synth-*.txt` into.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        words: WordArgs,
    },
    /// Write a benchmark question set: the eval questions, then variants of them (dropped,
    /// added and misspelt words, `@bot` prefixes) until COUNT distinct questions.
    Questions {
        /// Eval-format questions to start from.
        #[arg(long, default_value = "../shared/eval/dev.jsonl")]
        from: PathBuf,
        #[arg(long, default_value = "corpus/calcinosis-cutis.txt")]
        seed_article: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Writes PREFIX.txt (one question a line) and PREFIX.jsonl (qid, query, kind).
        #[arg(long)]
        out: PathBuf,
    },
    /// In-process answer latency by question kind: p50/p99 of `Engine::ask`, and of ask plus
    /// rendering the answer as `citebot ask` prints it.
    Latency {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Eval-format (.jsonl, with `kind`) or one question a line.
        #[arg(long, default_value = "../shared/eval/dev.jsonl")]
        questions: PathBuf,
        /// Timed answers in all (every question the same number of times).
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// Passages per answer (citebot ask shows 3).
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The scale curve: for each size, generate a corpus, build its index in a child process,
    /// open it and time distinct questions in another; one JSON line per size.
    Scale(ScaleRun),
    /// Experiment: merge the live index generation's segments into one (a rebuild on 2 cores
    /// writes one segment per indexing thread), to measure what one segment saves per query.
    MergeSegments {
        #[arg(long)]
        index: PathBuf,
    },
    #[command(hide = true)]
    ChildBuild {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long)]
        index: PathBuf,
    },
    #[command(hide = true)]
    ChildQuery {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        questions: PathBuf,
        #[arg(long)]
        queries: usize,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct WordArgs {
    /// The article whose words (by frequency) head the vocabulary.
    #[arg(long, default_value = "corpus/calcinosis-cutis.txt")]
    seed_article: PathBuf,
    /// Generated words after the seed article's (the vocabulary's long tail).
    #[arg(long, default_value_t = 500_000)]
    tail_words: usize,
    #[arg(long, default_value_t = 1.0)]
    zipf_exponent: f64,
    #[arg(long, default_value_t = 0xC17EB0)]
    seed: u64,
    /// Rank the seed article's words at the head of the vocabulary (every question word then
    /// is among the corpus's commonest: the worst case) instead of spreading its content
    /// words among the generated ones.
    #[arg(long)]
    seed_words_at_head: bool,
}

impl WordArgs {
    fn load(&self) -> anyhow::Result<(WordDistribution, SynthOptions)> {
        let seed_text = std::fs::read_to_string(&self.seed_article)
            .with_context(|| format!("reading {}", self.seed_article.display()))?;
        let options = SynthOptions {
            seed: self.seed,
            tail_words: self.tail_words,
            zipf_exponent: self.zipf_exponent,
            spread_seed_words: !self.seed_words_at_head,
            ..SynthOptions::default()
        };
        let words = WordDistribution::for_options(&seed_text, &options);
        Ok((words, options))
    }
}

fn main() -> std::process::ExitCode {
    match try_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("citebot-bench: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Synth {
            passages,
            out,
            words,
        } => {
            let (distribution, options) = words.load()?;
            let started = Instant::now();
            let stats = synth::write_corpus(&out, passages, &distribution, &options)?;
            println!(
                "{}",
                serde_json::json!({
                    "articles": stats.articles,
                    "passages": stats.passages(),
                    "bytes": stats.bytes,
                    "millis": started.elapsed().as_millis() as u64,
                })
            );
            Ok(())
        }
        Command::Questions {
            from,
            seed_article,
            count,
            out,
        } => write_questions(&from, &seed_article, count, &out),
        Command::Latency {
            config,
            questions,
            samples,
            top,
            json,
        } => latency(&config, &questions, samples, top, json.as_deref()),
        Command::Scale(run) => scale(&run),
        Command::MergeSegments { index } => merge_segments(&index),
        Command::ChildBuild {
            config,
            corpus,
            index,
        } => child_build(&config, &corpus, &index),
        Command::ChildQuery {
            config,
            corpus,
            index,
            questions,
            queries,
        } => child_query(&config, &corpus, &index, &questions, queries),
    }
}

// ---------------------------------------------------------------------------------------------
// Questions

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Question {
    #[serde(default)]
    qid: String,
    query: String,
    #[serde(default = "unknown_kind")]
    kind: String,
}

fn unknown_kind() -> String {
    "any".to_string()
}

/// Eval-format `.jsonl`, or one question a line.
fn load_questions(path: &Path) -> anyhow::Result<Vec<Question>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut questions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if is_jsonl {
            let question: Question = serde_json::from_str(line)
                .with_context(|| format!("{} line {}", path.display(), number + 1))?;
            questions.push(question);
        } else {
            questions.push(Question {
                qid: format!("q{}", number + 1),
                query: line.to_string(),
                kind: unknown_kind(),
            });
        }
    }
    if questions.is_empty() {
        bail!("{} holds no questions", path.display());
    }
    Ok(questions)
}

/// Variants of real questions: what a stream of different users asking about the same article
/// looks like (same vocabulary, different wording), so a cache of whole answers would not help.
fn write_questions(
    from: &Path,
    seed_article: &Path,
    count: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let originals = load_questions(from)?;
    let article = std::fs::read_to_string(seed_article)
        .with_context(|| format!("reading {}", seed_article.display()))?;
    let article_words: Vec<&str> = article
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() >= 4)
        .collect();
    let mut rng = Rng::new(0xB0B, 0);
    let mut seen: HashSet<String> = HashSet::new();
    let mut questions: Vec<Question> = Vec::with_capacity(count);
    for original in &originals {
        if questions.len() < count && seen.insert(original.query.clone()) {
            questions.push(original.clone());
        }
    }
    let mut attempts = 0usize;
    while questions.len() < count {
        attempts += 1;
        if attempts > count * 100 {
            bail!("could not make {count} distinct questions");
        }
        let original = &originals[rng.range(0, originals.len() - 1)];
        let mut words: Vec<String> = original
            .query
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for _ in 0..rng.range(1, 3) {
            match rng.range(0, 5) {
                0 if words.len() > 2 => {
                    let at = rng.range(0, words.len() - 1);
                    words.remove(at);
                }
                1 => {
                    let word = article_words[rng.range(0, article_words.len() - 1)];
                    let at = rng.range(0, words.len());
                    words.insert(at, word.to_lowercase());
                }
                2 => {
                    // A typo: two neighbouring letters swapped.
                    let at = rng.range(0, words.len() - 1);
                    let mut letters: Vec<char> = words[at].chars().collect();
                    if letters.len() >= 4 {
                        let i = rng.range(1, letters.len() - 2);
                        letters.swap(i, i + 1);
                        words[at] = letters.into_iter().collect();
                    }
                }
                3 => {
                    if words.first().map(String::as_str) != Some("@bot") {
                        words.insert(0, "@bot".to_string());
                    }
                }
                4 => {
                    for word in &mut words {
                        *word = word.to_lowercase();
                    }
                }
                _ => {
                    let at = rng.range(0, words.len() - 1);
                    words[at] = article_words[rng.range(0, article_words.len() - 1)].to_string();
                }
            }
        }
        let query = words.join(" ");
        if seen.insert(query.clone()) {
            questions.push(Question {
                qid: String::new(),
                query,
                kind: original.kind.clone(),
            });
        }
    }
    let mut text = std::io::BufWriter::new(std::fs::File::create(out.with_extension("txt"))?);
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(out.with_extension("jsonl"))?);
    for (number, question) in questions.iter_mut().enumerate() {
        question.qid = format!("b{:05}", number + 1);
        writeln!(text, "{}", question.query)?;
        serde_json::to_writer(&mut jsonl, question)?;
        writeln!(jsonl)?;
    }
    text.flush()?;
    jsonl.flush()?;
    eprintln!(
        "wrote {} questions to {}.{{txt,jsonl}}",
        questions.len(),
        out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Percentiles and process figures

/// p50, p99 and mean of durations, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
struct Percentiles {
    samples: usize,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    max_us: f64,
}

impl Percentiles {
    fn of(durations: &[Duration]) -> Percentiles {
        let mut micros: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        micros.sort_by(f64::total_cmp);
        // Nearest rank, as the peers harness computes it.
        let at = |q: f64| -> f64 {
            if micros.is_empty() {
                return f64::NAN;
            }
            let index = ((q * (micros.len() - 1) as f64).round() as usize).min(micros.len() - 1);
            micros[index]
        };
        Percentiles {
            samples: micros.len(),
            p50_us: at(0.50),
            p99_us: at(0.99),
            mean_us: micros.iter().sum::<f64>() / micros.len().max(1) as f64,
            max_us: micros.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// What `/proc/self` says about this process so far.
#[derive(Debug, Clone, Copy, Serialize)]
struct ProcessFigures {
    peak_rss_mb: f64,
    rss_mb: f64,
    cpu_user_s: f64,
    cpu_system_s: f64,
}

fn process_figures() -> ProcessFigures {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kilobytes = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised command name, in clock
    // ticks (100 a second on Linux); they include threads that have ended.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|t| t / 100.0)
            .unwrap_or(f64::NAN)
    };
    ProcessFigures {
        peak_rss_mb: kilobytes("VmHWM:") / 1024.0,
        rss_mb: kilobytes("VmRSS:") / 1024.0,
        cpu_user_s: ticks(11),
        cpu_system_s: ticks(12),
    }
}

fn folder_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// In-process latency

const KIND_ORDER: &[&str] = &[
    "factoid",
    "lay",
    "typo",
    "abbrev",
    "multi",
    "citation",
    "unanswerable",
    "any",
];

#[derive(Debug, Serialize)]
struct KindLatency {
    kind: String,
    questions: usize,
    ask: Percentiles,
    ask_and_render: Percentiles,
}

fn latency(
    config_path: &Path,
    questions_path: &Path,
    samples: usize,
    top: usize,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let questions = load_questions(questions_path)?;
    let engine = Engine::open(&config)?;
    // Warm-up: every question twice (page cache, passage cache, allocator).
    for _ in 0..2 {
        for question in &questions {
            std::hint::black_box(engine.ask(&question.query, top));
        }
    }
    let rounds = samples.div_ceil(questions.len()).max(1);
    let mut ask_times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); questions.len()];
    let mut full_times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); questions.len()];
    let mut rendered: Vec<u8> = Vec::with_capacity(16 * 1024);
    for _ in 0..rounds {
        for (index, question) in questions.iter().enumerate() {
            rendered.clear();
            let started = Instant::now();
            let answer = engine.ask(&question.query, top);
            let asked = started.elapsed();
            render::write_answer(&mut rendered, &engine, &answer, render::Style::Plain)?;
            let full = started.elapsed();
            std::hint::black_box(&rendered);
            ask_times[index].push(asked);
            full_times[index].push(full);
        }
    }
    // Known kinds in the eval's order, then any others by name.
    let mut by_kind: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (index, question) in questions.iter().enumerate() {
        let order = KIND_ORDER
            .iter()
            .position(|k| *k == question.kind)
            .unwrap_or(KIND_ORDER.len());
        by_kind
            .entry((order, question.kind.clone()))
            .or_default()
            .push(index);
    }
    let mut rows: Vec<KindLatency> = Vec::new();
    let collect = |indexes: &[usize], times: &[Vec<Duration>]| -> Vec<Duration> {
        indexes
            .iter()
            .flat_map(|&i| times[i].iter().copied())
            .collect()
    };
    for ((_, kind), indexes) in &by_kind {
        rows.push(KindLatency {
            kind: kind.clone(),
            questions: indexes.len(),
            ask: Percentiles::of(&collect(indexes, &ask_times)),
            ask_and_render: Percentiles::of(&collect(indexes, &full_times)),
        });
    }
    let everything: Vec<usize> = (0..questions.len()).collect();
    rows.push(KindLatency {
        kind: "all".to_string(),
        questions: questions.len(),
        ask: Percentiles::of(&collect(&everything, &ask_times)),
        ask_and_render: Percentiles::of(&collect(&everything, &full_times)),
    });

    println!("| kind | questions | samples | ask p50 µs | ask p99 µs | ask+render p50 µs | ask+render p99 µs |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            row.kind,
            row.questions,
            row.ask.samples,
            row.ask.p50_us,
            row.ask.p99_us,
            row.ask_and_render.p50_us,
            row.ask_and_render.p99_us
        );
    }
    if let Some(path) = json {
        let figures = process_figures();
        let report = serde_json::json!({
            "questions": questions_path,
            "top": top,
            "rows": rows,
            "process": figures,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scale curve

#[derive(Debug, clap::Args)]
struct ScaleRun {
    /// Passages per corpus, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    sizes: Vec<usize>,
    /// Scratch folder (corpora are kept and reused while their parameters match).
    #[arg(long, default_value = "bench-results/work/scale")]
    work: PathBuf,
    /// Settings (search, vocabulary) to use; its corpus and index folders are replaced.
    #[arg(long, default_value = "config.toml")]
    config: PathBuf,
    /// Questions, one a line or eval-format .jsonl; each is asked once.
    #[arg(long, default_value = "../shared/eval/dev.jsonl")]
    questions: PathBuf,
    /// Timed questions per size (after a warm-up of 50 others).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Appends one JSON object per size here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Remove each corpus and index after measuring it.
    #[arg(long)]
    clean: bool,
    #[command(flatten)]
    words: WordArgs,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CorpusStamp {
    passages: usize,
    seed: u64,
    tail_words: usize,
    zipf_exponent: f64,
    spread_seed_words: bool,
    seed_article: PathBuf,
    articles: usize,
    bytes: u64,
}

fn scale(run: &ScaleRun) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("finding this program")?;
    let (words, options) = run.words.load()?;
    let config = std::fs::canonicalize(&run.config)
        .with_context(|| format!("finding {}", run.config.display()))?;
    let questions = std::fs::canonicalize(&run.questions)
        .with_context(|| format!("finding {}", run.questions.display()))?;
    let mut results = Vec::new();
    for &size in &run.sizes {
        let folder = run.work.join(format!("n{size}"));
        let corpus = folder.join("corpus");
        let index_dir = folder.join("index");
        let stamp_path = folder.join("corpus.json");

        let wanted = |articles: usize, bytes: u64| CorpusStamp {
            passages: size,
            seed: options.seed,
            tail_words: options.tail_words,
            zipf_exponent: options.zipf_exponent,
            spread_seed_words: options.spread_seed_words,
            seed_article: run.words.seed_article.clone(),
            articles,
            bytes,
        };
        let existing: Option<CorpusStamp> = std::fs::read(&stamp_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let reusable = existing
            .as_ref()
            .is_some_and(|stamp| *stamp == wanted(stamp.articles, stamp.bytes) && corpus.is_dir());
        let (articles, corpus_bytes, synth_seconds) = if reusable {
            let stamp = existing.expect("checked above");
            eprintln!("n={size}: reusing the corpus in {}", corpus.display());
            (stamp.articles, stamp.bytes, None)
        } else {
            let _ = std::fs::remove_dir_all(&folder);
            eprintln!("n={size}: generating the corpus");
            let started = Instant::now();
            let stats = synth::write_corpus(&corpus, size, &words, &options)?;
            let took = started.elapsed().as_secs_f64();
            std::fs::write(
                &stamp_path,
                serde_json::to_vec_pretty(&wanted(stats.articles, stats.bytes))?,
            )?;
            (stats.articles, stats.bytes, Some(took))
        };
        let _ = std::fs::remove_dir_all(&index_dir);

        eprintln!("n={size}: building the index");
        let build = run_child(
            &me,
            &[
                "child-build",
                "--config",
                path_str(&config)?,
                "--corpus",
                path_str(&corpus)?,
                "--index",
                path_str(&index_dir)?,
            ],
        )?;
        // The query child starts with a cold program but a warm page cache (the build just
        // wrote the files): "open" is the reader's own work, not the disk's.
        eprintln!("n={size}: querying");
        let query = run_child(
            &me,
            &[
                "child-query",
                "--config",
                path_str(&config)?,
                "--corpus",
                path_str(&corpus)?,
                "--index",
                path_str(&index_dir)?,
                "--questions",
                path_str(&questions)?,
                "--queries",
                &run.queries.to_string(),
            ],
        )?;
        let index_bytes = folder_bytes(&index_dir);
        let result = serde_json::json!({
            "size": size,
            "articles": articles,
            "corpus_mb": corpus_bytes as f64 / 1e6,
            "synth_s": synth_seconds,
            "index_mb": index_bytes as f64 / 1e6,
            "build": build,
            "query": query,
        });
        eprintln!("{result}");
        if let Some(out) = &run.out {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(out)?;
            writeln!(file, "{result}")?;
        }
        results.push(result);
        if run.clean {
            let _ = std::fs::remove_dir_all(&folder);
        }
    }
    println!("| passages | corpus MB | build s | passages/s | CPU/wall | build RSS MB | index MB | open ms | check ms | Engine::open ms | p50 ms | p99 ms | query RSS MB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let b = &r["build"];
        let q = &r["query"];
        println!(
            "| {} | {:.1} | {:.2} | {:.0} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} |",
            b["passages"],
            r["corpus_mb"].as_f64().unwrap_or(f64::NAN),
            b["build_s"].as_f64().unwrap_or(f64::NAN),
            b["passages_per_s"].as_f64().unwrap_or(f64::NAN),
            b["cores_used"].as_f64().unwrap_or(f64::NAN),
            b["process"]["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
            r["index_mb"].as_f64().unwrap_or(f64::NAN),
            q["index_open_ms"].as_f64().unwrap_or(f64::NAN),
            q["check_ms"].as_f64().unwrap_or(f64::NAN),
            q["engine_open_ms"].as_f64().unwrap_or(f64::NAN),
            q["latency"]["p50_us"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            q["latency"]["p99_us"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            q["process"]["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Runs this program with `args`; its last stdout line is a JSON object.
fn run_child(me: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let output = Process::new(me)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} {}", me.display(), args[0]))?;
    if !output.status.success() {
        bail!("{} failed with {}", args[0], output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("{} printed {last:?}", args[0]))
}

/// The core's settings from `path`; the default `config.toml` may be absent (then the
/// defaults), as for the `citebot` binary.
fn load_config(path: &Path) -> anyhow::Result<Config> {
    if path == Path::new("config.toml") && !path.exists() {
        return Ok(Config::default());
    }
    Ok(Config::load(path)?)
}

fn child_config(config: &Path, corpus: &Path, index_dir: &Path) -> anyhow::Result<Config> {
    let mut config = load_config(config)?;
    config.corpus_dir = corpus.to_path_buf();
    config.index_dir = index_dir.to_path_buf();
    Ok(config)
}

/// The rebuild's progress on stderr, one line rewritten in place (a terminal only).
fn progress(done: u64, total: u64) {
    eprint!("\rindexing {done}/{total} passages");
}

fn child_build(config: &Path, corpus: &Path, index_dir: &Path) -> anyhow::Result<()> {
    let config = child_config(config, corpus, index_dir)?;
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = Instant::now();
    let report = index::rebuild(
        &config,
        RebuildOptions {
            progress: if show_progress { Some(progress) } else { None },
        },
    )?;
    let took = started.elapsed().as_secs_f64();
    if show_progress {
        eprintln!();
    }
    let figures = process_figures();
    let manifest = &report.manifest;
    let passages = manifest.passages + manifest.references;
    let segments = tantivy::Index::open_in_dir(&report.generation)
        .and_then(|index| index.searchable_segment_ids())
        .map(|ids| ids.len())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "articles": manifest.articles,
            "passages": passages,
            "build_s": took,
            "passages_per_s": passages as f64 / took,
            "cores_used": (figures.cpu_user_s + figures.cpu_system_s) / took,
            "segments": segments,
            "process": figures,
        })
    );
    Ok(())
}

fn child_query(
    config: &Path,
    corpus: &Path,
    index_dir: &Path,
    questions_path: &Path,
    queries: usize,
) -> anyhow::Result<()> {
    let config = child_config(config, corpus, index_dir)?;
    let questions = load_questions(questions_path)?;

    // The pieces of opening, each timed alone: the reader (tantivy segments; article records
    // are read per article when needed), the staleness check (which reads only the files whose
    // metadata changed since the build), and Engine::open (both, plus the vocabulary and a
    // probe question).
    let started = Instant::now();
    let opened = index::open(&config.index_dir).map_err(|s| anyhow::anyhow!("{s}"))?;
    let index_open = started.elapsed();
    drop(opened);
    let started = Instant::now();
    let checked = index::check_reporting(&config).map_err(|s| anyhow::anyhow!("{s}"))?;
    let check = started.elapsed();
    let started = Instant::now();
    let engine = Engine::open(&config)?;
    let engine_open = started.elapsed();
    let top = config.search.top;

    let first = Instant::now();
    let first_answer = engine.ask(&questions[0].query, top);
    let first_query = first.elapsed();
    std::hint::black_box(first_answer);

    let warmup = 50.min(questions.len() / 2);
    for question in questions.iter().skip(1).take(warmup) {
        std::hint::black_box(engine.ask(&question.query, top));
    }
    let mut times = Vec::with_capacity(queries);
    let mut ask_times = Vec::with_capacity(queries);
    let mut answered = 0usize;
    let mut rendered: Vec<u8> = Vec::with_capacity(16 * 1024);
    for question in questions.iter().skip(1 + warmup).cycle().take(queries) {
        rendered.clear();
        let started = Instant::now();
        let answer = engine.ask(&question.query, top);
        ask_times.push(started.elapsed());
        render::write_answer(&mut rendered, &engine, &answer, render::Style::Plain)?;
        times.push(started.elapsed());
        answered += usize::from(answer.answered());
        std::hint::black_box(&rendered);
    }
    let figures = process_figures();
    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{}",
        serde_json::json!({
            "index_open_ms": millis(index_open),
            "check_ms": millis(check),
            // Files the check had to read: those modified within a second of the build
            // reading them (see corpus::RACY_WINDOW_NS); the others are vouched for by their
            // metadata.
            "check_rehashed_files": checked.rehashed,
            "check_files": checked.files,
            "engine_open_ms": millis(engine_open),
            "first_query_ms": millis(first_query),
            "latency": Percentiles::of(&times),
            "ask_latency": Percentiles::of(&ask_times),
            "answered_share": answered as f64 / times.len().max(1) as f64,
            "process": figures,
        })
    );
    Ok(())
}

fn merge_segments(index_dir: &Path) -> anyhow::Result<()> {
    let generation = index::current_generation(index_dir)
        .with_context(|| format!("no index in {}", index_dir.display()))?;
    let index = tantivy::Index::open_in_dir(&generation)?;
    index
        .tokenizers()
        .register(index::TOKENIZER, index::analyzer());
    let segments = index.searchable_segment_ids()?;
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000)?;
    if segments.len() > 1 {
        writer.merge(&segments).wait()?;
    }
    writer.wait_merging_threads()?;
    let after = tantivy::Index::open_in_dir(&generation)?.searchable_segment_ids()?;
    println!(
        "{}",
        serde_json::json!({"segments_before": segments.len(), "segments_after": after.len()})
    );
    Ok(())
}
