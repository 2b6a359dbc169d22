//! The `citebot` binary: glue. Parses the command line, runs the command, and turns errors into
//! one clear line on stderr with a meaningful exit status.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use citebot::cli::{self, Cli, Outcome};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CITEBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,citebot::discord=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::LineWriter::new(stdout.lock());
    let result = cli::run(cli, &mut out).and_then(|outcome| {
        out.flush()?;
        Ok(outcome)
    });
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NoAnswer) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("citebot: {}", one_line(&error));
            ExitCode::from(2)
        }
    }
}

/// A reader that went away (`citebot search … | head`) is a normal end, not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
