//! `citebot eval`: runs a question set (the format of `shared/eval/README.md`) through the
//! engine and scores it exactly as `score.py` does, so the two always agree.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use citebot_core::engine::Engine;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Question set, one JSON object per line.
    #[arg(value_name = "FILE.jsonl")]
    pub file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Cut-off for reference precision and an extra R@k column, 1 to 100.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub k: u16,
    /// Also write the ranked results in the scorer's format to this file.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// List every answerable question that missed the top 1, and every wrong abstention.
    #[arg(long)]
    pub misses: bool,
}

/// One question of an eval set.
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub qid: String,
    pub query: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub refs: Vec<u32>,
    pub kind: String,
}

impl Question {
    pub fn answerable(&self) -> bool {
        self.kind != "unanswerable"
    }
}

/// What the engine returned for one question, as the scorer reads it.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub qid: String,
    pub answered: bool,
    pub passages: Vec<ResultPassage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultPassage {
    pub text: String,
    pub refs: Vec<u32>,
}

/// The scores of a group of questions (all of them, or one kind).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Scores {
    pub n: usize,
    pub n_answerable: usize,
    pub n_unanswerable: usize,
    #[serde(flatten)]
    pub recall: BTreeMap<String, f64>,
    #[serde(rename = "mrr@10", skip_serializing_if = "Option::is_none")]
    pub mrr_at_10: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_precision: Option<f64>,
    pub n_ref_checked: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_abstention_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstention_rate: Option<f64>,
}

/// Scores overall and by kind.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub k: usize,
    pub overall: Scores,
    pub by_kind: BTreeMap<String, Scores>,
}

/// Per-question outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub question: Question,
    pub answered: bool,
    /// 1-based rank of the first passage holding the evidence (within the top 10).
    pub rank: Option<usize>,
    pub ref_ok: Option<bool>,
}

const KINDS: [&str; 7] = [
    "factoid",
    "lay",
    "typo",
    "abbrev",
    "multi",
    "unanswerable",
    "citation",
];
const MRR_DEPTH: usize = 10;

/// Reads a question set; a bad line is an error naming the file and line.
pub fn read_questions(path: &std::path::Path) -> anyhow::Result<Vec<Question>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read question set {}", path.display()))?;
    let mut questions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let question: Question = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: not a question in the eval format",
                path.display(),
                index + 1
            )
        })?;
        if !KINDS.contains(&question.kind.as_str()) {
            bail!(
                "{}:{}: kind {:?} is not one of {}",
                path.display(),
                index + 1,
                question.kind,
                KINDS.join(", ")
            );
        }
        questions.push(question);
    }
    Ok(questions)
}

/// The engine's results for each question, ranked passages down to the MRR depth.
pub fn results(engine: &Engine, questions: &[Question], depth: usize) -> Vec<ResultRow> {
    questions
        .iter()
        .map(|question| {
            let answer = engine.ask(&question.query, depth);
            ResultRow {
                qid: question.qid.clone(),
                answered: answer.answered(),
                passages: answer
                    .hits
                    .iter()
                    .map(|hit| ResultPassage {
                        text: hit.passage.text.clone(),
                        refs: hit.passage.refs().iter().map(|n| n.0).collect(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Whitespace runs (any Unicode whitespace) collapsed, trimmed, case-folded: the scorer's `norm`.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Scores results the way `score.py` does.
pub fn score(questions: &[Question], rows: &[ResultRow], k: usize) -> (Report, Vec<Outcome>) {
    let depth = k.max(5).max(MRR_DEPTH);
    let outcomes: Vec<Outcome> = questions
        .iter()
        .map(|question| {
            let row = rows.iter().find(|r| r.qid == question.qid);
            let answered = row.is_some_and(|r| r.answered);
            let passages: &[ResultPassage] = match row {
                Some(r) if r.answered => &r.passages,
                _ => &[],
            };
            let evidence: Vec<String> = question.evidence.iter().map(|e| normalise(e)).collect();
            let rank = passages
                .iter()
                .take(depth)
                .position(|p| {
                    let text = normalise(&p.text);
                    evidence.iter().any(|e| text.contains(e.as_str()))
                })
                .map(|i| i + 1);
            let ref_ok = (question.answerable() && !question.refs.is_empty()).then(|| match rank {
                Some(rank) if rank <= k => question
                    .refs
                    .iter()
                    .all(|r| passages[rank - 1].refs.contains(r)),
                _ => false,
            });
            Outcome {
                question: question.clone(),
                answered,
                rank: if question.answerable() { rank } else { None },
                ref_ok,
            }
        })
        .collect();
    let summarise = |group: &[&Outcome]| -> Scores {
        let answerable: Vec<&&Outcome> = group.iter().filter(|o| o.question.answerable()).collect();
        let unanswerable: Vec<&&Outcome> =
            group.iter().filter(|o| !o.question.answerable()).collect();
        let mut scores = Scores {
            n: group.len(),
            n_answerable: answerable.len(),
            n_unanswerable: unanswerable.len(),
            ..Scores::default()
        };
        if !answerable.is_empty() {
            let n = answerable.len() as f64;
            let mut cuts = vec![1, 3, 5, k];
            cuts.sort_unstable();
            cuts.dedup();
            for cut in cuts {
                let hits = answerable
                    .iter()
                    .filter(|o| o.rank.is_some_and(|r| r <= cut))
                    .count();
                scores
                    .recall
                    .insert(format!("recall@{cut}"), hits as f64 / n);
            }
            scores.mrr_at_10 = Some(
                answerable
                    .iter()
                    .filter_map(|o| o.rank.filter(|&r| r <= MRR_DEPTH))
                    .map(|r| 1.0 / r as f64)
                    .sum::<f64>()
                    / n,
            );
            let checked: Vec<bool> = answerable.iter().filter_map(|o| o.ref_ok).collect();
            scores.n_ref_checked = checked.len();
            scores.ref_precision = (!checked.is_empty())
                .then(|| checked.iter().filter(|&&ok| ok).count() as f64 / checked.len() as f64);
            scores.false_abstention_rate =
                Some(answerable.iter().filter(|o| !o.answered).count() as f64 / n);
        }
        if !unanswerable.is_empty() {
            scores.abstention_rate = Some(
                unanswerable.iter().filter(|o| !o.answered).count() as f64
                    / unanswerable.len() as f64,
            );
        }
        scores
    };
    let all: Vec<&Outcome> = outcomes.iter().collect();
    let mut by_kind = BTreeMap::new();
    for kind in KINDS {
        let group: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.question.kind == kind)
            .collect();
        if !group.is_empty() {
            by_kind.insert(kind.to_string(), summarise(&group));
        }
    }
    (
        Report {
            k,
            overall: summarise(&all),
            by_kind,
        },
        outcomes,
    )
}

/// `citebot eval`.
pub fn run(engine: &Engine, args: &EvalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let questions = read_questions(&args.file)?;
    let k = usize::from(args.k);
    let rows = results(engine, &questions, k.max(MRR_DEPTH));
    if let Some(path) = &args.results {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        for row in &rows {
            serde_json::to_writer(&mut file, row)?;
            writeln!(file)?;
        }
        file.flush()?;
    }
    let (report, outcomes) = score(&questions, &rows, k);
    if args.json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write_table(out, &report)?;
    }
    if args.misses {
        writeln!(out)?;
        for outcome in &outcomes {
            let wrong = if outcome.question.answerable() {
                outcome.rank != Some(1) || outcome.ref_ok == Some(false)
            } else {
                outcome.answered
            };
            if wrong {
                writeln!(
                    out,
                    "{} {:<12} rank {:>4} refs {:<5} answered {:<5} {}",
                    outcome.question.qid,
                    outcome.question.kind,
                    outcome
                        .rank
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                    outcome
                        .ref_ok
                        .map(|ok| ok.to_string())
                        .unwrap_or_else(|| "-".into()),
                    outcome.answered,
                    outcome.question.query
                )?;
            }
        }
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let mut cuts = vec![1, 3, 5, report.k];
    cuts.sort_unstable();
    cuts.dedup();
    let mut columns: Vec<String> = cuts.iter().map(|c| format!("R@{c}")).collect();
    columns.extend(["MRR@10", "RefP", "FAbst", "Abstain"].map(String::from));
    let header = format!(
        "{:<13}{:>4}  {}",
        "kind",
        "n",
        columns
            .iter()
            .map(|c| format!("{c:>6}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    writeln!(out, "{header}")?;
    writeln!(out, "{}", "-".repeat(header.len()))?;
    let fmt = |value: Option<f64>| {
        value
            .map(|v| format!("{v:6.3}"))
            .unwrap_or_else(|| "   -  ".to_string())
    };
    let mut rows: Vec<(&str, &Scores)> = KINDS
        .iter()
        .filter_map(|kind| report.by_kind.get(*kind).map(|s| (*kind, s)))
        .collect();
    rows.push(("ALL", &report.overall));
    for (name, scores) in rows {
        if name == "ALL" {
            writeln!(out, "{}", "-".repeat(header.len()))?;
        }
        let mut values: Vec<Option<f64>> = cuts
            .iter()
            .map(|c| scores.recall.get(&format!("recall@{c}")).copied())
            .collect();
        values.extend([
            scores.mrr_at_10,
            scores.ref_precision,
            scores.false_abstention_rate,
            scores.abstention_rate,
        ]);
        writeln!(
            out,
            "{:<13}{:>4}  {}",
            name,
            scores.n,
            values.into_iter().map(fmt).collect::<Vec<_>>().join(" ")
        )?;
    }
    writeln!(
        out,
        "\nanswerable: {}  unanswerable: {}  ref-checked: {}  (k={})",
        report.overall.n_answerable,
        report.overall.n_unanswerable,
        report.overall.n_ref_checked,
        report.k
    )
}
