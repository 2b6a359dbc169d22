//! The terminal surface: argument parsing and the commands. A thin adapter over
//! [`citebot_core::Engine`]: it formats answers (see [`render`] and [`json`]) and nothing else.

pub mod eval;
pub mod exit;
mod progress;

use citebot_presentation::notices::{EmergencyDetector, EMERGENCY_NOTICE_PLAIN};
use citebot_presentation::{json, terminal as render};

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config_file::ConfigFile;
use citebot_core::citation::RefNumber;
use citebot_core::config::Config;
use citebot_core::engine::{Engine, Preparation};
use citebot_core::index::{self, RebuildOptions};

/// citebot answers questions from the articles in corpus/, with their sources.
#[derive(Debug, Parser)]
#[command(
    name = "citebot",
    version,
    about = "Answers questions from cited Wikipedia articles, offline, with sources",
    after_help = after_help()
)]
pub struct Cli {
    /// Settings file; relative paths in it are taken from its folder. A file named here (or by
    /// CITEBOT_CONFIG) must exist; without either, config.toml in the working directory is
    /// read when there is one, else the defaults.
    #[arg(long, global = true, value_name = "FILE", env = CONFIG_ENV)]
    pub config: Option<PathBuf>,

    /// Where [`Cli::config`] came from (set by [`Cli::parse_args`]; not an argument).
    #[arg(skip)]
    pub config_origin: ConfigOrigin,

    /// How log events are written on standard error: text, or one JSON object per line. What
    /// is logged: RUST_LOG (CITEBOT_LOG wins when both are set), e.g. RUST_LOG=debug.
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        env = LOG_FORMAT_ENV
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The environment variable that names the settings file when `--config` is not given.
pub const CONFIG_ENV: &str = "CITEBOT_CONFIG";
/// The environment variable that picks the log format when `--log-format` is not given.
pub const LOG_FORMAT_ENV: &str = "CITEBOT_LOG_FORMAT";
/// The settings file read when neither `--config` nor [`CONFIG_ENV`] names one (it may be
/// absent).
pub const IMPLICIT_CONFIG: &str = "config.toml";

/// `citebot --help`'s closing text: examples, the environment, the exit statuses.
fn after_help() -> String {
    format!(
        "Examples:\n  citebot ask \"How is calcinosis cutis treated?\"\n  citebot search --json \"diltiazem\"\n  citebot refs 15\n  citebot index\n  citebot add \"Morphea\"\n  citebot refresh --check\n  citebot completions bash > /etc/bash_completion.d/citebot\n  citebot man > /usr/local/share/man/man1/citebot.1\n\nEnvironment: {CONFIG_ENV} (the settings file, like --config), RUST_LOG (what is logged on standard error, e.g. RUST_LOG=debug; CITEBOT_LOG, its older name, wins when both are set), {LOG_FORMAT_ENV} (like --log-format).\n\n{}",
        exit::HELP
    )
}

/// Where the settings file's path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigOrigin {
    /// Neither `--config` nor [`CONFIG_ENV`]: [`IMPLICIT_CONFIG`], which may be absent (or
    /// a [`Cli`] built without [`Cli::parse_args`], whose path counts as `--config`'s).
    #[default]
    Implicit,
    /// `--config FILE`.
    Flag,
    /// [`CONFIG_ENV`].
    Env,
}

/// How log events are written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per event and line (tracing-subscriber's JSON format), for a log
    /// collector.
    Json,
}

impl Cli {
    /// Parses the process's arguments as [`Parser::parse`] does (usage errors are printed and
    /// exit with status 2), noting where the settings file's path came from.
    pub fn parse_args() -> Cli {
        let matches = Cli::command().get_matches();
        Cli::from_matches(&matches).unwrap_or_else(|error| error.format(&mut Cli::command()).exit())
    }

    /// [`Cli::parse_args`] over the given arguments, returning clap's error.
    #[cfg(test)]
    pub fn try_parse_args_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::from_matches(&Cli::command().try_get_matches_from(args)?)
    }

    fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        cli.config_origin = match matches.value_source("config") {
            Some(ValueSource::CommandLine) => ConfigOrigin::Flag,
            Some(ValueSource::EnvVariable) => ConfigOrigin::Env,
            _ => ConfigOrigin::Implicit,
        };
        Ok(cli)
    }

    /// The settings: the file `--config` or [`CONFIG_ENV`] names, which must exist; without
    /// either, [`IMPLICIT_CONFIG`] in the working directory when there is one, else the
    /// defaults.
    pub fn load_config(&self) -> anyhow::Result<ConfigFile> {
        let Some(path) = &self.config else {
            return load_config(std::path::Path::new(IMPLICIT_CONFIG));
        };
        let missing = std::fs::metadata(path)
            .is_err_and(|error| error.kind() == std::io::ErrorKind::NotFound);
        if missing {
            let named_by = match self.config_origin {
                ConfigOrigin::Env => CONFIG_ENV,
                ConfigOrigin::Flag | ConfigOrigin::Implicit => "--config",
            };
            return Err(citebot_core::Error::ConfigMissing {
                path: path.clone(),
                named_by,
            }
            .into());
        }
        Ok(ConfigFile::load(path)?)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a question for a person: the passage that answers, its sentence highlighted,
    /// and the sources.
    #[command(
        after_help = "Examples:\n  citebot ask \"How is calcinosis cutis treated?\"\n  citebot ask --top 1 \"can IV calcium cause this\"\n  citebot ask --json \"How is calcinosis cutis treated?\"    # as GET /v1/ask of citebot serve"
    )]
    Ask(AskArgs),
    /// Ranked passages for a query, as text or JSON (one object per query).
    #[command(
        after_help = "Examples:\n  citebot search diltiazem\n  citebot search --json --top 5 \"venipuncture\"\n  printf 'diltiazem\\nvenipuncture\\n' | citebot search --json -\n\nWith `-` as the query, reads one query per line from standard input and writes one JSON\nobject per line, in input order, each written as soon as it is ready (questions are answered\non every core)."
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
    /// Register the slash commands (/ask, /source, /about) with Discord over REST, without
    /// connecting to the gateway: for deployments that run only `citebot serve` (the gateway
    /// bot registers them itself). In [discord] guild_id's server when set, else globally.
    #[command(
        after_help = "Example:\n  DISCORD_TOKEN=… citebot register\n\nRun it once, and again after upgrading citebot. Deployment: docs/deploy.md."
    )]
    Register,
    /// Serve Discord's HTTP interactions endpoint, the JSON API and a search page until
    /// Ctrl-C or SIGTERM; the application's public key comes from DISCORD_PUBLIC_KEY.
    #[command(
        after_help = "Examples:\n  DISCORD_PUBLIC_KEY=… citebot serve\n  citebot serve --listen 0.0.0.0:8080\n\nEndpoints: POST /interactions, GET /v1/search?q=…&top=N, GET /v1/ask?q=…, GET /v1/refs/N,\nGET / (the search page), GET /healthz, GET /metrics. Deployment: docs/deploy.md."
    )]
    Serve(ServeArgs),
    /// Summarise the 👍/👎 feedback from Discord; --export writes the down-voted questions as
    /// eval-set lines to turn into tests.
    #[command(
        after_help = "Examples:\n  citebot feedback\n  citebot feedback --json\n  citebot feedback --export downvoted.jsonl\n  PGPASSWORD=… citebot feedback --db postgres://citebot@db.internal/citebot"
    )]
    Feedback(FeedbackArgs),
    /// Fetch an article from Wikipedia into the corpus (the latest revision, through
    /// MediaWiki's REST API), then rebuild the index. A redirect is followed to its target.
    #[command(
        after_help = "Examples:\n  citebot add \"Morphea\"\n  citebot add https://en.wikipedia.org/wiki/Calcinosis_cutis\n  citebot add \"Sklerodermie\" --lang de\n\nWrites corpus/NAME.wikipedia.json (the revision's metadata and Parsoid HTML) atomically;\non any error nothing is written. Needs [wikipedia] user_agent in config.toml."
    )]
    Add(AddArgs),
    /// Bring the fetched articles up to date: ask each one's latest revision, fetch the
    /// changed ones, report what changed in passages and references, rebuild the index.
    #[command(
        after_help = "Examples:\n  citebot refresh\n  citebot refresh morphea\n  citebot refresh --check     # report only; exit 1 when something is out of date\n\nExit status: 0 up to date (or updated), 1 out of date (--check), 2 error. deploy/citebot-refresh.timer runs --check daily."
    )]
    Refresh(RefreshArgs),
    /// Print a shell completion script, generated from these commands and options.
    #[command(
        after_help = "Examples:\n  citebot completions bash > /etc/bash_completion.d/citebot\n  citebot completions zsh > \"${fpath[1]}/_citebot\"\n  citebot completions fish > ~/.config/fish/completions/citebot.fish\n  citebot completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_name = "SHELL", value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these commands and options.
    #[command(
        after_help = "Examples:\n  citebot man | man -l -\n  citebot man > /usr/local/share/man/man1/citebot.1"
    )]
    Man,
    /// For scripts/train.py: every candidate of each question on standard input (one per
    /// line) with the features the ranker sees, one JSON object per line.
    #[command(hide = true)]
    TrainData,
    /// For scripts/train_reader.py: the reader's token ids of each pair on standard input
    /// (`{"question", "sentences", "focus", "max_tokens", "question_tokens"}` per line), one
    /// JSON object per line; `--fingerprint` prints the installed model's fingerprint.
    #[command(hide = true)]
    ReaderPairs {
        #[arg(long)]
        fingerprint: bool,
    },
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// Write the down-voted questions as eval-set JSON lines to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// The feedback database: an SQLite file or a postgres:// URL, with the password in
    /// PGPASSWORD (default: CITEBOT_FEEDBACK_DB, else discord.feedback_db in config.toml).
    /// Parsed by the command, not by clap: clap repeats a refused value in its error, and a
    /// refused URL may hold a password.
    #[arg(long, value_name = "FILE|URL")]
    pub db: Option<String>,
    /// Print the summary as one JSON object (every down-voted question, not only the first
    /// 10).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on, like 127.0.0.1:8080 or [::]:8080 (default: http.listen
    /// in config.toml; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The article's title ("Morphea") or URL (https://en.wikipedia.org/wiki/Morphea).
    #[arg(value_name = "TITLE|URL")]
    pub target: String,
    /// The Wikipedia language to fetch from (default: wikipedia.origin in config.toml, which
    /// is English Wikipedia unless changed).
    #[arg(long, value_name = "CODE")]
    pub lang: Option<String>,
    /// The name in the corpus (default: from the title, "calcinosis-cutis").
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The fetched articles to refresh (default: all of them).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Only report: fetch no article, change nothing, exit 1 when one is out of date.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, in any words.
    #[arg(value_name = "QUESTION", required = true, num_args = 1..)]
    pub question: Vec<String>,
    /// How many passages to show, 1 to 50 (default: search.top in config.toml).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub top: Option<u16>,
    /// Print the answer as one JSON object, exactly as GET /v1/ask of `citebot serve` returns
    /// it.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query; `-` reads one query per line from standard input.
    #[arg(value_name = "QUERY", required = true, num_args = 1.., allow_hyphen_values = true)]
    pub query: Vec<String>,
    /// How many passages to return, 1 to 100.
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
    /// `refresh --check` found an article out of date (exit status 1).
    OutOfDate,
}

/// Loads the config: the named file, or the defaults when the default file is absent.
pub fn load_config(path: &std::path::Path) -> anyhow::Result<ConfigFile> {
    if path == std::path::Path::new("config.toml") && !path.exists() {
        return Ok(ConfigFile::default());
    }
    Ok(ConfigFile::load(path)?)
}

/// Runs a parsed command line, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    // Generated from the definitions alone: no settings needed (a packager has none).
    match &cli.command {
        Command::Completions { shell } => {
            // Into a buffer: the generator panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "citebot", &mut script);
            out.write_all(&script)?;
            return Ok(Outcome::Done);
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            out.write_all(&page)?;
            return Ok(Outcome::Done);
        }
        _ => {}
    }
    let file = cli.load_config()?;
    let config = file.core.clone();
    match cli.command {
        // Answered above.
        Command::Completions { .. } | Command::Man => Ok(Outcome::Done),
        Command::Index => run_index(&config, out),
        Command::Ask(args) => {
            let engine = open_engine(&config)?;
            let question = args.question.join(" ");
            let top = args.top.map(usize::from).unwrap_or(config.search.top);
            let answer = engine.ask(&question, top);
            // The same phrases as every surface ([discord] emergency_phrases in config.toml).
            let emergency =
                EmergencyDetector::new(&file.discord.emergency_phrases).is_emergency(&question);
            if args.json {
                // The API's own type: the two cannot drift apart.
                serde_json::to_writer(&mut *out, &json::ask_response(&engine, &answer, emergency))?;
                writeln!(out)?;
            } else {
                if emergency {
                    writeln!(out, "{EMERGENCY_NOTICE_PLAIN}\n")?;
                }
                render::write_answer(out, &engine, &answer, render::Style::detect())?;
            }
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
        Command::Add(args) => run_add(&config, &file.wikipedia, &args, out),
        Command::Refresh(args) => run_refresh(&config, &file.wikipedia, &args, out),
        Command::TrainData => {
            let engine = open_engine(&config)?;
            write_training_data(&engine, std::io::stdin().lock(), out)?;
            Ok(Outcome::Done)
        }
        Command::ReaderPairs { fingerprint } => {
            let Some(model) = citebot_meaning::shared(&config.meaning)? else {
                anyhow::bail!("reader-pairs needs the meaning model: run scripts/install-model.sh");
            };
            if fingerprint {
                writeln!(out, "{}", model.fingerprint())?;
            } else {
                write_reader_pairs(&model, std::io::stdin().lock(), out)?;
            }
            Ok(Outcome::Done)
        }
        Command::Bot => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(citebot_discord::run(config, file.discord))?;
            Ok(Outcome::Done)
        }
        Command::Register => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let registered = runtime.block_on(citebot_discord::register(file.discord))?;
            let scope = match registered.guild_id {
                Some(guild) => format!("in guild {guild}"),
                None => "globally (they can take up to an hour to show everywhere)".to_string(),
            };
            writeln!(
                out,
                "registered {} slash commands ({}) {scope} for application {} ({})",
                registered.commands.len(),
                registered
                    .commands
                    .iter()
                    .map(|name| format!("/{name}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                registered.application_name,
                registered.application_id,
            )?;
            match registered.interactions_endpoint_url {
                Some(url) if !url.is_empty() => {
                    writeln!(out, "interactions endpoint URL: {url}")?
                }
                _ => writeln!(
                    out,
                    "interactions endpoint URL: not set; the gateway bot (`citebot bot`) receives them. For `citebot serve`, set it in the Developer Portal (General Information) to https://YOUR-HOST/interactions"
                )?,
            }
            Ok(Outcome::Done)
        }
        Command::Serve(args) => {
            let listen = args
                .listen
                .as_deref()
                .map(citebot_http::settings::parse_listen)
                .transpose()
                .map_err(|error| anyhow::anyhow!("--listen: {error}"))?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(citebot_http::run(config, file.discord, file.http, listen))?;
            Ok(Outcome::Done)
        }
        Command::Feedback(args) => {
            let db = match args.db {
                Some(db) => db
                    .parse::<citebot_discord::settings::FeedbackLocation>()
                    .map_err(|error| anyhow::anyhow!("--db: {error}"))?,
                None => file.discord.effective_feedback_db().map_err(|error| {
                    anyhow::anyhow!("{}: {error}", citebot_discord::settings::FEEDBACK_DB_ENV)
                })?,
            };
            if args.json && args.export.as_deref() == Some(std::path::Path::new("-")) {
                anyhow::bail!("--json and --export - both write to standard output: export to a file (--export FILE), or leave out --json");
            }
            citebot_discord::feedback::feedback_command(
                &db,
                args.export.as_deref(),
                args.json,
                out,
            )?;
            Ok(Outcome::Done)
        }
    }
}

/// `citebot reader-pairs`: the reader's token ids of each (question, passage) line.
fn write_reader_pairs(
    model: &citebot_meaning::MeaningModel,
    input: impl BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        question: String,
        sentences: Vec<String>,
        focus: usize,
        max_tokens: usize,
        question_tokens: usize,
    }
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&line)
            .map_err(|error| anyhow::anyhow!("reader-pairs: line {}: {error}", number + 1))?;
        let sentences: Vec<&str> = line.sentences.iter().map(String::as_str).collect();
        let shape = citebot_meaning::PairShape {
            max_tokens: line.max_tokens.clamp(16, citebot_meaning::MAX_TOKENS),
            question_tokens: line
                .question_tokens
                .clamp(1, line.max_tokens.saturating_sub(8).max(1)),
        };
        let pair = model.pair(&line.question, &sentences, line.focus, shape);
        serde_json::to_writer(&mut *out, &pair)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `citebot train-data`: for each question line, the decision's features and every
/// candidate's, with the passage text the trainer matches evidence against.
fn write_training_data(
    engine: &Engine,
    input: impl BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use citebot_core::ranker::QuestionFeatures;
    let meaning = engine.uses_meaning();
    for line in input.lines() {
        let line = line?;
        let row = match engine.candidates(&line) {
            Some(described) => {
                let found = &described.candidates;
                serde_json::json!({
                    "meaning": meaning,
                    "question_features": found.features.values(),
                    "not_in_article": found.not_in_article,
                    "answer_logit": described.decision_logit,
                    "reader": described.reader_scores,
                    "candidates": found.each().map(|(passage, features, token_match, bm25, best)| serde_json::json!({
                        "id": passage.id,
                        "text": passage.text,
                        "sentences": (0..passage.sentences.len()).map(|i| passage.sentence_text(i)).collect::<Vec<_>>(),
                        "best_sentences": best,
                        "refs": passage.refs().iter().map(|n| n.0).collect::<Vec<_>>(),
                        "features": features.values(),
                        "token_match": token_match.map(|matched| matched.values()),
                        "bm25_raw": bm25,
                    })).collect::<Vec<_>>(),
                })
            }
            None => serde_json::json!({
                "meaning": meaning,
                "question_features": QuestionFeatures::default().values(),
                "not_in_article": [],
                "candidates": [],
            }),
        };
        serde_json::to_writer(&mut *out, &row)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Opens the engine, telling the user on stderr when the index had to be (re)built first.
pub fn open_engine(config: &Config) -> anyhow::Result<Engine> {
    // A command that finds the index missing or stale rebuilds it first: on a large corpus
    // that takes a while, so a terminal gets the same progress bar as `citebot index`.
    let (engine, preparation) = Engine::open_with(config, rebuild_options())?;
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

/// Rebuild options for a terminal: a progress bar when standard error is one.
fn rebuild_options() -> RebuildOptions {
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    RebuildOptions {
        progress: show_progress.then_some(progress::progress as fn(u64, u64)),
    }
}

fn run_add(
    config: &Config,
    settings: &citebot_wikipedia::WikipediaSettings,
    args: &AddArgs,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    use citebot_wikipedia::fetch;
    let target = fetch::Target::parse(&args.target).map_err(anyhow::Error::msg)?;
    let added = fetch::add(
        &config.corpus_dir,
        settings,
        &target,
        args.lang.as_deref(),
        args.name.as_deref(),
        config.passage_limits(),
    )?;
    let stored = &added.stored;
    let redirect = stored
        .redirected_from
        .as_deref()
        .map(|from| format!(" (redirected from {from:?})"))
        .unwrap_or_default();
    writeln!(
        out,
        "added \"{}\"{redirect}, revision {} of {} ({}), as {}: {} passages, {} references",
        stored.title,
        stored.revision,
        citebot_core::corpus::revision_date(&stored.timestamp),
        stored.permalink(),
        added.path.display(),
        added.article.body_passages().count(),
        added.article.references.len(),
    )?;
    run_index(config, out)
}

fn run_refresh(
    config: &Config,
    settings: &citebot_wikipedia::WikipediaSettings,
    args: &RefreshArgs,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    use citebot_core::corpus::revision_date;
    use citebot_wikipedia::fetch::{self, RefreshOutcome};
    let reports = fetch::refresh(
        &config.corpus_dir,
        settings,
        &args.names,
        args.check,
        config.passage_limits(),
    )?;
    if reports.is_empty() {
        writeln!(
            out,
            "no fetched article in {}: add one with `citebot add TITLE`",
            config.corpus_dir.display()
        )?;
        return Ok(Outcome::Done);
    }
    let (mut updated, mut out_of_date, mut failed) = (0, 0, 0);
    for report in &reports {
        match &report.outcome {
            RefreshOutcome::Current {
                revision,
                timestamp,
            } => writeln!(
                out,
                "{}: up to date (revision {revision} of {})",
                report.slug,
                revision_date(timestamp)
            )?,
            RefreshOutcome::OutOfDate { from, to } => {
                out_of_date += 1;
                writeln!(
                    out,
                    "{}: out of date: revision {} of {} → {} of {} (run `citebot refresh {}`)",
                    report.slug,
                    from.0,
                    revision_date(&from.1),
                    to.0,
                    revision_date(&to.1),
                    report.slug
                )?;
            }
            RefreshOutcome::Updated { from, to, changes } => {
                updated += 1;
                writeln!(
                    out,
                    "{}: updated revision {} of {} → {} of {}: {}",
                    report.slug,
                    from.0,
                    revision_date(&from.1),
                    to.0,
                    revision_date(&to.1),
                    if changes.is_empty() {
                        "no passage or reference changed (the edit was elsewhere: formatting, an infobox, a table)".to_string()
                    } else {
                        changes.summary()
                    }
                )?;
                for line in changes.lines() {
                    writeln!(out, "  {line}")?;
                }
            }
            RefreshOutcome::Failed(message) => {
                failed += 1;
                writeln!(out, "{}: not refreshed: {message}", report.slug)?;
            }
        }
    }
    if updated > 0 {
        run_index(config, out)?;
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} fetched articles could not be refreshed (see above); the others are as reported",
            reports.len()
        );
    }
    Ok(if out_of_date > 0 {
        Outcome::OutOfDate
    } else {
        Outcome::Done
    })
}

fn run_index(config: &Config, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let report = index::rebuild(config, rebuild_options())?;
    progress::finish_progress();
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

/// `search -`: one query per line in, one JSON object (or text block) per line out, in the
/// order of the input.
///
/// Questions are answered on every core: a reader thread hands numbered batches of lines (as
/// many as are already buffered, up to [`BATCH_LINES`]) to a pool of workers, and this thread
/// writes their answers back in input order. Output is flushed whenever no finished answer is
/// waiting, so a script talking to `search -` one line at a time gets each answer at once,
/// while a batch moves between threads in blocks and is written in large writes.
fn search_lines(
    engine: &Engine,
    top: usize,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{sync_channel, RecvTimeoutError, TryRecvError};
    use std::sync::{Arc, Mutex};

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    // Bounded queues: memory stays flat however long the input is.
    let (line_tx, line_rx) = sync_channel::<LineBatch>(workers * 4);
    let (answer_tx, answer_rx) = sync_channel::<Rendered>(workers * 4);
    // Not scoped: a reader blocked on an idle terminal must not keep citebot alive once the
    // output has gone (`search - | head -1`); it ends with the process.
    std::thread::spawn(move || read_lines(&line_tx));
    let line_rx = Arc::new(Mutex::new(line_rx));
    // Set when the output fails, so idle workers stop waiting for input.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..workers {
            let line_rx = Arc::clone(&line_rx);
            let answer_tx = answer_tx.clone();
            let stop = &stop;
            scope.spawn(move || {
                answer_lines(engine, top, as_json, &line_rx, &answer_tx, stop);
            });
        }
        drop(answer_tx);
        drop(line_rx);
        let written = write_in_order(&answer_rx, out);
        if written.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Dropping the receiver makes any worker blocked on a full queue give up.
        drop(answer_rx);
        written
    })?;
    return Ok(());

    /// Reads lines until the end of the input or a read error (sent on, after the lines).
    fn read_lines(line_tx: &std::sync::mpsc::SyncSender<LineBatch>) {
        let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
        let mut next = 1;
        loop {
            let mut batch = Vec::new();
            let mut failed = None;
            // Everything already buffered goes in one batch; an empty buffer means the writer
            // of the input is waiting for answers, so the batch goes now.
            while batch.len() < BATCH_LINES && (batch.is_empty() || !input.buffer().is_empty()) {
                let mut line = Vec::new();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        while matches!(line.last(), Some(b'\n' | b'\r')) {
                            line.pop();
                        }
                        batch.push(line);
                    }
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            let count = batch.len();
            if count > 0 && line_tx.send(Ok((next, batch))).is_err() {
                return;
            }
            next += count;
            if let Some(error) = failed {
                let _ = line_tx.send(Err(error));
                return;
            }
            if count == 0 {
                return;
            }
        }
    }

    /// A worker: answers batches until the input ends or the output goes away.
    fn answer_lines(
        engine: &Engine,
        top: usize,
        as_json: bool,
        line_rx: &Mutex<std::sync::mpsc::Receiver<LineBatch>>,
        answer_tx: &std::sync::mpsc::SyncSender<Rendered>,
        stop: &AtomicBool,
    ) {
        loop {
            let next = {
                let Ok(receiver) = line_rx.lock() else {
                    return;
                };
                receiver.recv_timeout(std::time::Duration::from_millis(50))
            };
            let rendered = match next {
                Ok(Ok((first, lines))) => {
                    let mut bytes = Vec::new();
                    for (offset, line) in lines.iter().enumerate() {
                        render_line(engine, top, as_json, first + offset, line, &mut bytes);
                    }
                    Rendered::Lines {
                        first,
                        count: lines.len(),
                        bytes,
                    }
                }
                Ok(Err(error)) => Rendered::ReadError(error.to_string()),
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => continue,
                Err(_) => return,
            };
            if answer_tx.send(rendered).is_err() {
                return;
            }
        }
    }

    /// Writes answers in input order; flushes whenever the next answer is not ready yet.
    fn write_in_order(
        answer_rx: &std::sync::mpsc::Receiver<Rendered>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        // Batches that finished before an earlier one, by first line number.
        let mut waiting: std::collections::BTreeMap<usize, (usize, Vec<u8>)> = Default::default();
        let mut next = 1usize;
        loop {
            let rendered = match answer_rx.try_recv() {
                Ok(found) => found,
                Err(TryRecvError::Empty) => {
                    out.flush()?;
                    match answer_rx.recv() {
                        Ok(found) => found,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            match rendered {
                Rendered::Lines {
                    first,
                    count,
                    bytes,
                } => {
                    waiting.insert(first, (count, bytes));
                }
                // Sent after the last line read, so every answer before it is in `waiting`.
                Rendered::ReadError(message) => {
                    for (_, bytes) in std::mem::take(&mut waiting).into_values() {
                        out.write_all(&bytes)?;
                    }
                    return Err(
                        anyhow::anyhow!(message).context("reading queries from standard input")
                    );
                }
            }
            while let Some((count, bytes)) = waiting.remove(&next) {
                out.write_all(&bytes)?;
                next += count;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// Lines of `search -` handed from the reader to a worker at most at once.
const BATCH_LINES: usize = 64;

/// Consecutive input lines from the first one's number (from 1), or the error that ended
/// reading.
type LineBatch = std::io::Result<(usize, Vec<Vec<u8>>)>;

/// A worker's output: the rendered answers to a batch, or a read error to report.
enum Rendered {
    Lines {
        first: usize,
        count: usize,
        bytes: Vec<u8>,
    },
    ReadError(String),
}

/// One line of `search -` answered and rendered (JSON or text, ending with a newline) onto
/// `rendered`.
fn render_line(
    engine: &Engine,
    top: usize,
    as_json: bool,
    number: usize,
    line: &[u8],
    rendered: &mut Vec<u8>,
) {
    // Writing into a Vec cannot fail, and the JSON has only string keys.
    let _ = match std::str::from_utf8(line) {
        Ok(query) => {
            let answer = engine.ask(query, top);
            if as_json {
                serde_json::to_writer(&mut *rendered, &json::SearchResponse::from_answer(&answer))
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(rendered))
            } else {
                render::write_search(rendered, &answer)
            }
        }
        Err(error) => {
            let query = String::from_utf8_lossy(line);
            let message = format!(
                "line {number} is not valid UTF-8 (bad byte at offset {}): send UTF-8 text",
                error.valid_up_to()
            );
            if as_json {
                serde_json::to_writer(
                    &mut *rendered,
                    &json::SearchResponse::error(&query, &message),
                )
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(rendered))
            } else {
                writeln!(rendered, "error: {message}")
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every bounded option: its command, its name, and the bounds its value parser enforces.
    const BOUNDED: &[(&str, &str, u32, u32)] = &[
        ("ask", "top", 1, 50),
        ("search", "top", 1, 100),
        ("eval", "k", 1, 100),
    ];

    /// Whether `citebot COMMAND --OPTION VALUE` parses (with a positional argument when the
    /// command requires one).
    fn parses(command: &str, option: &str, value: &str) -> bool {
        let needs_positional = Cli::command()
            .find_subcommand(command)
            .is_some_and(|sub| sub.get_positionals().any(|arg| arg.is_required_set()));
        let option = format!("--{option}");
        let mut line = vec!["citebot", command, option.as_str(), value];
        if needs_positional {
            line.push("question");
        }
        Cli::try_parse_from(line).is_ok()
    }

    #[test]
    fn bounded_options_state_the_bounds_they_enforce() {
        let cli = Cli::command();
        for &(command, option, low, high) in BOUNDED {
            let accepted = |value: u32| parses(command, option, &value.to_string());
            assert!(accepted(low) && accepted(high), "{command} --{option}");
            assert!(
                !accepted(low - 1) && !accepted(high + 1),
                "{command} --{option}"
            );
            let help = cli
                .find_subcommand(command)
                .and_then(|sub| sub.get_arguments().find(|arg| arg.get_id() == option))
                .and_then(|arg| arg.get_help())
                .map(|help| help.to_string())
                .unwrap_or_default();
            assert!(
                help.contains(&format!("{low} to {high}")),
                "{command} --{option}: help {help:?} does not state {low} to {high}"
            );
        }
    }

    /// `--config` is global: given before or after the command, it counts as given (and so
    /// must exist), whatever CITEBOT_CONFIG says.
    #[test]
    fn a_config_flag_anywhere_is_noted_as_given() {
        use super::ConfigOrigin;
        for line in [
            &["citebot", "--config", "x.toml", "index"][..],
            &["citebot", "index", "--config", "x.toml"][..],
        ] {
            let cli = Cli::try_parse_args_from(line).expect("parses");
            assert_eq!(cli.config_origin, ConfigOrigin::Flag, "{line:?}");
            assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("x.toml")));
        }
    }

    /// A new option with a range must join [`BOUNDED`] (and so state its bounds).
    #[test]
    fn every_option_that_refuses_a_number_is_listed_as_bounded() {
        for sub in Cli::command().get_subcommands() {
            let command = sub.get_name();
            for arg in sub.get_arguments().filter(|arg| arg.get_long().is_some()) {
                let option = arg.get_long().unwrap_or_default();
                let numeric = parses(command, option, "1");
                let bounded = !parses(command, option, "0") || !parses(command, option, "1000000");
                if numeric && bounded {
                    assert!(
                        BOUNDED.iter().any(|&(c, o, _, _)| c == command && o == option),
                        "{command} --{option} has bounds: add it to BOUNDED and state them in its help"
                    );
                }
            }
        }
    }
}
