//! How long the meaning step takes: loading all-MiniLM-L6-v2, embedding one question, one
//! passage, and a batch of passages (as an index build would).
//!
//!     scripts/install-model.sh
//!     cargo run --release -p citebot-meaning --example embed_speed
//!
//! Prints milliseconds (p50 and p90 over repeated runs) and the tokens of each text.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use citebot_meaning::MeaningModel;

const QUESTION: &str =
    "I'm on water tablets for my blood pressure and my calcium keeps creeping up";

fn main() -> anyhow::Result<()> {
    let folder = MeaningModel::locate(None)
        .context("all-MiniLM-L6-v2 is not installed: run scripts/install-model.sh")?;
    let started = Instant::now();
    let model = MeaningModel::load(&folder)?;
    println!(
        "load: {:.1} ms ({})",
        millis(started.elapsed()),
        folder.display()
    );

    let passage = first_long_paragraph(Path::new("corpus"))?;
    println!(
        "question: {} words; passage: {} words",
        words(QUESTION),
        words(&passage)
    );

    model.embed(&[QUESTION, &passage]); // page the weights in
    report("question", 200, || {
        model.embed(&[QUESTION]);
    });
    report("passage", 40, || {
        model.embed(&[&passage]);
    });
    let batch: Vec<&str> = std::iter::repeat_n(passage.as_str(), 32).collect();
    let started = Instant::now();
    model.embed(&batch);
    let elapsed = started.elapsed();
    println!(
        "batch of {} passages: {:.0} ms, {:.1} passages/s",
        batch.len(),
        millis(elapsed),
        batch.len() as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Runs `work` `runs` times and prints the median and 90th percentile.
fn report(name: &str, runs: usize, mut work: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name}: p50 {:.2} ms, p90 {:.2} ms over {runs} runs",
        millis(times[runs / 2]),
        millis(times[runs * 9 / 10])
    );
}

/// A paragraph of the seed article with about 150 words (~200 tokens).
fn first_long_paragraph(corpus: &Path) -> anyhow::Result<String> {
    for entry in std::fs::read_dir(corpus).context("run from the repository's root")? {
        let text = std::fs::read_to_string(entry?.path())?;
        if let Some(paragraph) = text.split("\n\n").find(|p| (130..200).contains(&words(p))) {
            return Ok(paragraph.to_string());
        }
    }
    anyhow::bail!("no paragraph of 130 to 200 words in {}", corpus.display())
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
