//! The terminal surface: argument parsing and the commands. A thin adapter over
//! [`crate::Engine`]: it formats answers (see [`render`] and [`json`]) and nothing else.

pub mod eval;
pub mod json;
pub mod render;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::citation::RefNumber;
use crate::config::Config;
use crate::engine::{Engine, Preparation};
use crate::index::{self, RebuildOptions};

/// citebot answers questions from the articles in corpus/, with their sources.
#[derive(Debug, Parser)]
#[command(
    name = "citebot",
    version,
    about = "Answers questions from cited Wikipedia articles, offline, with sources",
    after_help = "Examples:\n  citebot ask \"How is calcinosis cutis treated?\"\n  citebot search --json \"diltiazem\"\n  citebot refs 15\n  citebot index\n\nExit status: 0 answered (or done), 1 the article has no answer, 2 error."
)]
pub struct Cli {
    /// Settings file; relative paths in it are taken from its folder.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a question for a person: the passage that answers, its sentence highlighted,
    /// and the sources.
    #[command(
        after_help = "Examples:\n  citebot ask \"How is calcinosis cutis treated?\"\n  citebot ask --top 1 \"can IV calcium cause this\""
    )]
    Ask(AskArgs),
    /// Ranked passages for a query, as text or JSON (one object per query).
    #[command(
        after_help = "Examples:\n  citebot search diltiazem\n  citebot search --json --top 5 \"venipuncture\"\n  printf 'diltiazem\\nvenipuncture\\n' | citebot search --json -\n\nWith `-` as the query, reads one query per line from standard input and writes one JSON\nobject per line, in order, flushed after each."
    )]
    Search(SearchArgs),
    /// List the references, or show one with its links.
    #[command(
        after_help = "Examples:\n  citebot refs\n  citebot refs 15\n  citebot refs 15 --json\n  citebot refs --article calcinosis-cutis"
    )]
    Refs(RefsArgs),
    /// Rebuild the index from the corpus (atomically: the old index serves until the new one
    /// is complete).
    #[command(after_help = "Example:\n  citebot index")]
    Index,
    /// Score a question set (eval format) and print Recall@1/3/5, MRR@10, reference precision
    /// and abstention, overall and by kind.
    #[command(
        after_help = "Examples:\n  citebot eval ../shared/eval/dev.jsonl\n  citebot eval ../shared/eval/dev.jsonl --json"
    )]
    Eval(eval::EvalArgs),
    /// Run the Discord bot until Ctrl-C or SIGTERM; the token comes from the environment
    /// variable named in [discord] token_env (DISCORD_TOKEN by default).
    #[command(after_help = "Example:\n  DISCORD_TOKEN=… citebot bot\n\nSetup: docs/discord.md.")]
    Bot,
    /// Summarise the 👍/👎 feedback from Discord; --export writes the down-voted questions as
    /// eval-set lines to turn into tests.
    #[command(
        after_help = "Examples:\n  citebot feedback\n  citebot feedback --export downvoted.jsonl"
    )]
    Feedback(FeedbackArgs),
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// Write the down-voted questions as eval-set JSON lines to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// The feedback database (default: discord.feedback_db in config.toml).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, in any words.
    #[arg(value_name = "QUESTION", required = true, num_args = 1..)]
    pub question: Vec<String>,
    /// How many passages to show (default: search.top in config.toml).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub top: Option<u16>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query; `-` reads one query per line from standard input.
    #[arg(value_name = "QUERY", required = true, num_args = 1.., allow_hyphen_values = true)]
    pub query: Vec<String>,
    /// How many passages to return.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub top: u16,
    /// Print JSON (the contract other tools rely on) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RefsArgs {
    /// The reference number to show; without it, all references are listed.
    #[arg(value_name = "N")]
    pub number: Option<u32>,
    /// The article (its file name without .txt, or its title) when the corpus holds several.
    #[arg(long)]
    pub article: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a command tells `main` about how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `ask` found no answer in the article (exit status 1, like grep without a match).
    NoAnswer,
}

/// Loads the config: the named file, or the defaults when the default file is absent.
pub fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    if path == std::path::Path::new("config.toml") && !path.exists() {
        return Ok(Config::default());
    }
    Ok(Config::load(path)?)
}

/// Runs a parsed command line, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(&cli.config)?;
    match cli.command {
        Command::Index => run_index(&config, out),
        Command::Ask(args) => {
            let engine = open_engine(&config)?;
            let question = args.question.join(" ");
            let top = args.top.map(usize::from).unwrap_or(config.search.top);
            let answer = engine.ask(&question, top);
            render::write_answer(out, &engine, &answer, render::Style::detect())?;
            Ok(if answer.answered() {
                Outcome::Done
            } else {
                Outcome::NoAnswer
            })
        }
        Command::Search(args) => {
            let engine = open_engine(&config)?;
            let top = usize::from(args.top);
            if args.query.len() == 1 && args.query[0] == "-" {
                search_lines(&engine, top, args.json, out)?;
                return Ok(Outcome::Done);
            }
            let answer = engine.ask(&args.query.join(" "), top);
            if args.json {
                serde_json::to_writer(&mut *out, &json::SearchResponse::from_answer(&answer))?;
                writeln!(out)?;
            } else {
                render::write_search(out, &answer)?;
            }
            Ok(Outcome::Done)
        }
        Command::Refs(args) => {
            let engine = open_engine(&config)?;
            let article = args.article.as_deref();
            match args.number {
                Some(number) => {
                    let citation = engine.citation(article, RefNumber(number))?;
                    let all = engine.citations(article)?;
                    if args.json {
                        serde_json::to_writer_pretty(
                            &mut *out,
                            &json::CitationJson::from(&citation),
                        )?;
                        writeln!(out)?;
                    } else {
                        render::write_citation(out, &citation, &all)?;
                    }
                }
                None => {
                    let all = engine.citations(article)?;
                    if args.json {
                        let list: Vec<json::CitationJson> =
                            all.iter().map(json::CitationJson::from).collect();
                        serde_json::to_writer_pretty(&mut *out, &list)?;
                        writeln!(out)?;
                    } else {
                        render::write_citation_list(out, &all)?;
                    }
                }
            }
            Ok(Outcome::Done)
        }
        Command::Eval(args) => {
            let engine = open_engine(&config)?;
            eval::run(&engine, &args, out)?;
            Ok(Outcome::Done)
        }
        Command::Bot => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::discord::run(config))?;
            Ok(Outcome::Done)
        }
        Command::Feedback(args) => {
            let db = args
                .db
                .unwrap_or_else(|| config.discord.feedback_db.clone());
            crate::discord::feedback::feedback_command(&db, args.export.as_deref(), out)?;
            Ok(Outcome::Done)
        }
    }
}

/// Opens the engine, telling the user on stderr when the index had to be (re)built first.
pub fn open_engine(config: &Config) -> anyhow::Result<Engine> {
    let (engine, preparation) = Engine::open_reporting(config)?;
    if let Preparation::Rebuilt { reason, report } = preparation {
        eprintln!(
            "citebot: {reason}; built it in {} ms ({} passages, {} references)",
            report.took.as_millis(),
            report.manifest.passages,
            report.manifest.references
        );
        for warning in &report.manifest.warnings {
            eprintln!("citebot: warning: {warning}");
        }
    }
    Ok(engine)
}

fn run_index(config: &Config, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let options = RebuildOptions {
        progress: if show_progress {
            Some(render::progress)
        } else {
            None
        },
    };
    let report = index::rebuild(config, options)?;
    render::finish_progress();
    let manifest = &report.manifest;
    writeln!(
        out,
        "indexed {} article{}, {} passages, {} references in {} ms",
        manifest.articles,
        if manifest.articles == 1 { "" } else { "s" },
        manifest.passages,
        manifest.references,
        report.took.as_millis()
    )?;
    writeln!(out, "index: {}", report.generation.display())?;
    for warning in &manifest.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(Outcome::Done)
}

/// `search -`: one query per line in, one JSON object (or text block) per line out, flushed
/// per line so a script can talk to it interactively.
fn search_lines(
    engine: &Engine,
    top: usize,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buffer = Vec::new();
    let mut line_number = 0usize;
    loop {
        buffer.clear();
        let read = input
            .read_until(b'\n', &mut buffer)
            .context("reading queries from standard input")?;
        if read == 0 {
            break;
        }
        line_number += 1;
        while matches!(buffer.last(), Some(b'\n' | b'\r')) {
            buffer.pop();
        }
        match std::str::from_utf8(&buffer) {
            Ok(query) => {
                let answer = engine.ask(query, top);
                if as_json {
                    serde_json::to_writer(&mut *out, &json::SearchResponse::from_answer(&answer))?;
                    writeln!(out)?;
                } else {
                    render::write_search(out, &answer)?;
                }
            }
            Err(error) => {
                let query = String::from_utf8_lossy(&buffer);
                let message = format!(
                    "line {line_number} is not valid UTF-8 (bad byte at offset {}): send UTF-8 text",
                    error.valid_up_to()
                );
                if as_json {
                    serde_json::to_writer(
                        &mut *out,
                        &json::SearchResponse::error(&query, &message),
                    )?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "error: {message}")?;
                }
            }
        }
        out.flush()?;
    }
    Ok(())
}
