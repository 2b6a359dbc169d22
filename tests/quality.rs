//! Answer quality on the development questions: a drop is a bug. Also checks that
//! `citebot eval` scores exactly as the shared scorer does on `search --json -` output.

mod common;

use common::Workspace;
use serde_json::Value;

fn dev_set() -> Option<std::path::PathBuf> {
    let path = common::shared().join("eval/dev.jsonl");
    path.exists().then_some(path)
}

fn eval_json(workspace: &Workspace, dev: &std::path::Path) -> Value {
    let out =
        common::stdout_of(&mut workspace.citebot(&["eval", dev.to_str().expect("path"), "--json"]));
    serde_json::from_str(out.trim()).expect("eval JSON")
}

#[test]
fn dev_set_recall_at_1_stays_above_the_floor() {
    let Some(dev) = dev_set() else {
        eprintln!("skipped: ../shared/eval/dev.jsonl is not beside the repository");
        return;
    };
    let workspace = Workspace::shipped();
    let report = eval_json(&workspace, &dev);
    let overall = &report["overall"];
    let recall_at_1 = overall["recall@1"].as_f64().expect("recall@1");
    assert!(
        recall_at_1 >= 0.85,
        "Recall@1 fell to {recall_at_1}: {overall}"
    );
    assert!(
        overall["abstention_rate"].as_f64().expect("abstention") >= 0.8,
        "{overall}"
    );
    assert!(
        overall["false_abstention_rate"]
            .as_f64()
            .expect("false abstention")
            <= 0.1,
        "{overall}"
    );
}

#[test]
fn eval_agrees_with_the_shared_scorer() {
    let Some(dev) = dev_set() else {
        eprintln!("skipped: ../shared/eval/dev.jsonl is not beside the repository");
        return;
    };
    let scorer = common::shared().join("eval/score.py");
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
