//! Answer quality on every shared evaluation set: a drop from the documented numbers is a bug.
//! Also checks that `citebot eval` scores exactly as the shared scorer does on `search --json -`
//! output.

use citebot_test_support as common;

use common::Workspace;
use serde_json::Value;

/// `../shared/eval/dev.jsonl`; `None` only when the test skips on purpose (see
/// [`common::shared`]).
fn dev_set() -> Option<std::path::PathBuf> {
    Some(common::shared()?.join("eval/dev.jsonl"))
}

fn eval_json(workspace: &Workspace, dev: &std::path::Path) -> Value {
    let out =
        common::stdout_of(&mut workspace.citebot(&["eval", dev.to_str().expect("path"), "--json"]));
    serde_json::from_str(out.trim()).expect("eval JSON")
}

/// How far a number may move the wrong way from the one docs/quality.md reports before this
/// test fails.
const TOLERANCE: f64 = 0.03;

/// Every shared set, as `scripts/eval.py` runs it (the split of eval/split.toml), against this
/// build: R@1, abstention and false abstention of each row in eval/expected.json (the numbers
/// docs/quality.md reports) must hold within [`TOLERANCE`]. The reporting part is what the
/// issue's targets are about; the tuning part of the dev and medical sets is checked too, so a
/// change that only moves the data the weights came from is seen as well. Squad's tuning part
/// (12 articles, 3,020 questions) is left to `scripts/eval.py`: in a debug build, embedding its
/// passages and asking its questions took a minute and a half of a cold CI run.
#[test]
fn shared_sets_hold_the_documented_numbers() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("eval/expected.json"))
            .expect("eval/expected.json"),
    )
    .expect("expected JSON");
    let Some(shared) = common::shared() else {
        return;
    };
    assert!(
        shared.join("eval/squad").is_dir(),
        "../shared/eval is not beside the repository: the quality check cannot run"
    );
    let out = tempfile::tempdir().expect("temp dir");
    let mut rows: Vec<Value> = Vec::new();
    for (run, sets, part) in [
        ("medical", "dev,medical", "both"),
        ("squad", "squad", "reporting"),
    ] {
        let report_path = out.path().join(format!("{run}.json"));
        let status = std::process::Command::new("python3")
            .arg(common::repo_root().join("scripts/eval.py"))
            .args([
                "--bin",
                env!("CARGO_BIN_EXE_citebot"),
                "--no-kinds",
                "--sets",
                sets,
                "--part",
                part,
                "--json",
            ])
            .arg(&report_path)
            .arg("--shared")
            .arg(&shared)
            .arg("--workdir")
            .arg(out.path().join(run))
            .status()
            .expect("python3 runs scripts/eval.py");
        assert!(
            status.success(),
            "scripts/eval.py ({sets}) failed: {status}"
        );
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report"))
                .expect("report JSON");
        rows.extend(report["rows"].as_array().expect("rows").iter().cloned());
    }
    let mut checked = 0;
    for row in &rows {
        let name = format!(
            "{} / {}",
            row["set"].as_str().expect("set"),
            row["part"].as_str().expect("part")
        );
        let Some(wanted) = expected.get(&name) else {
            continue;
        };
        let overall = &row["overall"];
        for (metric, higher_is_better) in [
            ("recall@1", true),
            ("abstention_rate", true),
            ("false_abstention_rate", false),
        ] {
            let (Some(got), Some(documented)) = (overall[metric].as_f64(), wanted[metric].as_f64())
            else {
                continue;
            };
            let worse_by = if higher_is_better {
                documented - got
            } else {
                got - documented
            };
            assert!(
                worse_by <= TOLERANCE,
                "{name}: {metric} is {got:.3}, docs/quality.md says {documented:.3}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} numbers compared: {rows:?}");
}

#[test]
fn eval_agrees_with_the_shared_scorer() {
    let Some(dev) = dev_set() else {
        return;
    };
    let scorer = dev.with_file_name("score.py");
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let workspace = Workspace::shipped();
    let questions: Vec<Value> = std::fs::read_to_string(&dev)
        .expect("dev set")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("question"))
        .collect();
    let input: String = questions
        .iter()
        .map(|q| {
            format!(
                "{}\n",
                q["query"].as_str().expect("query").replace('\n', " ")
            )
        })
        .collect();
    let output = workspace
        .citebot(&["search", "--json", "--top", "10", "-"])
        .write_stdin(input)
        .output()
        .expect("search runs");
    let results: String = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .zip(&questions)
        .map(|(line, question)| {
            let mut value: Value = serde_json::from_str(line).expect("json line");
            value["qid"] = question["qid"].clone();
            format!("{value}\n")
        })
        .collect();
    let results_path = workspace.root().join("results.jsonl");
    std::fs::write(&results_path, results).expect("write results");
    let scored = std::process::Command::new("python3")
        .arg(&scorer)
        .arg(&dev)
        .arg(&results_path)
        .arg("--json")
        .output()
        .expect("scorer runs");
    assert!(
        scored.status.success(),
        "{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    let theirs: Value = serde_json::from_slice(&scored.stdout).expect("scorer JSON");
    let ours = eval_json(&workspace, &dev);
    for metric in [
        "recall@1",
        "recall@3",
        "recall@5",
        "mrr@10",
        "ref_precision",
        "false_abstention_rate",
        "abstention_rate",
    ] {
        let a = ours["overall"][metric].as_f64().expect("ours");
        let b = theirs["overall"][metric].as_f64().expect("theirs");
        assert!(
            (a - b).abs() < 1e-9,
            "{metric}: citebot eval {a} vs score.py {b}"
        );
    }
    for (kind, scores) in theirs["by_kind"].as_object().expect("by kind") {
        for metric in ["recall@1", "mrr@10"] {
            if let Some(b) = scores[metric].as_f64() {
                let a = ours["by_kind"][kind][metric]
                    .as_f64()
                    .expect("ours by kind");
                assert!((a - b).abs() < 1e-9, "{kind} {metric}: {a} vs {b}");
            }
        }
    }
}
