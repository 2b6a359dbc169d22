//! The `citebot` binary: glue. Parses the command line, runs the command, and turns errors into
//! one clear line on stderr with a meaningful exit status (the table: `cli::exit`).

use std::io::Write;
use std::process::ExitCode;

mod cli;
mod config_file;

use cli::{exit, Cli, LogFormat};

fn main() -> ExitCode {
    // Usage errors (and --help, --version) end here, with clap's own statuses (2, and 0).
    let cli = Cli::parse_args();
    init_logging(cli.log_format);

    let mut out = Stdout::new();
    let result = cli::run(cli, &mut out).and_then(|outcome| {
        out.flush()?;
        Ok(outcome)
    });
    // A reader that went away (`citebot search … | head`) is a normal end, not an error,
    // whatever the command was writing and however its error was wrapped on the way up.
    if out.reader_gone {
        return ExitCode::SUCCESS;
    }
    match result {
        Ok(outcome) => ExitCode::from(exit::status_of_outcome(outcome)),
        Err(error) => {
            eprintln!("citebot: {}", one_line(&error));
            ExitCode::from(exit::status_of_error(&error))
        }
    }
}

/// Log events go to standard error, as text or JSON lines. What is logged comes from
/// `CITEBOT_LOG` when it is set (citebot's own name, kept for existing deployments), else
/// `RUST_LOG`, else warnings (and the bot's progress).
fn init_logging(format: LogFormat) {
    let default = || tracing_subscriber::EnvFilter::new("warn,citebot_discord=info");
    let filter = ["CITEBOT_LOG", "RUST_LOG"]
        .into_iter()
        .find(|var| std::env::var_os(var).is_some())
        .map_or_else(default, |var| {
            tracing_subscriber::EnvFilter::try_from_env(var).unwrap_or_else(|_| default())
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Standard output, line-buffered, that remembers whether its reader went away.
///
/// Looking for a broken pipe in the error a command returns is not enough: an error can hide
/// its io::Error (serde_json's keeps it out of `source()`, so `search --json | head` used to
/// print "Broken pipe"), or a library can turn it into text. The writer itself sees every
/// failed write and flush, so `main` asks it.
struct Stdout {
    inner: std::io::LineWriter<std::io::StdoutLock<'static>>,
    reader_gone: bool,
}

impl Stdout {
    fn new() -> Stdout {
        Stdout {
            inner: std::io::LineWriter::new(std::io::stdout().lock()),
            reader_gone: false,
        }
    }

    /// Passes a result on, noting a broken pipe.
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                self.reader_gone = true;
            }
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(bytes);
        self.note(result)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let result = self.inner.write_all(bytes);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
