//! A reader that goes away (`citebot search … | head -c 100`) is a normal end for every
//! command: exit status 0 and nothing on stderr, whether the command writes text or JSON, one
//! answer or a stream of them.
//!
//! Each test starts citebot with its standard output on a pipe whose reading end is closed at
//! once, before citebot has opened the index, so its first write fails with EPIPE.

use citebot_test_support as common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Workspace;

/// A workspace over the shipped corpus whose index is already built, so that no command
/// prints the "built it" note on stderr.
fn indexed_workspace() -> Workspace {
    let workspace = Workspace::shipped();
    workspace.citebot(&["index"]).assert().success();
    workspace
}

/// Runs `citebot ARGS` with its reader gone (and `input` on standard input), and checks that
/// it ends as if the output had been read: status 0, empty stderr.
fn assert_quiet_end_without_reader(workspace: &Workspace, args: &[&str], input: Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citebot"))
        .arg("--config")
        .arg(workspace.config_path())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CITEBOT_LOG")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("citebot starts");
    // The reader goes away before citebot writes anything.
    drop(child.stdout.take());
    // Fed from a thread: citebot may stop reading once its output is gone, and a write to a
    // full pipe would then block this test.
    let feeder = child.stdin.take().zip(input).map(|(mut stdin, input)| {
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        })
    });
    let output = child.wait_with_output().expect("citebot ends");
    if let Some(feeder) = feeder {
        feeder.join().expect("feeder thread");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "citebot {args:?} with its reader gone: {}, stderr: {stderr}",
        output.status
    );
    assert!(
        stderr.is_empty(),
        "citebot {args:?} with its reader gone wrote on stderr: {stderr}"
    );
}

/// Many questions, so that `search -` has far more to write than a pipe holds.
fn many_questions() -> String {
    let questions = [
        "How is calcinosis cutis treated?",
        "diltiazem",
        "venipuncture",
        "SSc calcinosis",
        "what causes calcium deposits in the skin",
    ];
    questions
        .iter()
        .cycle()
        .take(2000)
        .map(|question| format!("{question}\n"))
        .collect()
}

#[test]
fn ask_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    assert_quiet_end_without_reader(
        &workspace,
        &["ask", "How is calcinosis cutis treated?"],
        None,
    );
}

#[test]
fn search_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    assert_quiet_end_without_reader(&workspace, &["search", "SSc calcinosis"], None);
    assert_quiet_end_without_reader(&workspace, &["search", "--json", "SSc calcinosis"], None);
}

#[test]
fn search_from_stdin_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    assert_quiet_end_without_reader(
        &workspace,
        &["search", "--json", "-"],
        Some(many_questions()),
    );
    assert_quiet_end_without_reader(&workspace, &["search", "-"], Some(many_questions()));
}

#[test]
fn refs_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    for args in [
        &["refs"][..],
        &["refs", "--json"],
        &["refs", "15"],
        &["refs", "15", "--json"],
    ] {
        assert_quiet_end_without_reader(&workspace, args, None);
    }
}

#[test]
fn index_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    assert_quiet_end_without_reader(&workspace, &["index"], None);
}

#[test]
fn eval_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    let questions = workspace.root().join("questions.jsonl");
    std::fs::write(
        &questions,
        concat!(
            r#"{"qid": "q1", "query": "How is calcinosis cutis treated?", "kind": "factoid"}"#,
            "\n",
            r#"{"qid": "q2", "query": "Who won the 1998 World Cup?", "kind": "unanswerable"}"#,
            "\n",
        ),
    )
    .expect("write the question set");
    let questions = questions.to_str().expect("UTF-8 temp path");
    assert_quiet_end_without_reader(&workspace, &["eval", questions], None);
    assert_quiet_end_without_reader(&workspace, &["eval", questions, "--json"], None);
    assert_quiet_end_without_reader(&workspace, &["eval", questions, "--misses"], None);
}

#[test]
fn feedback_ends_quietly_when_its_reader_goes_away() {
    let workspace = indexed_workspace();
    let db = workspace.root().join("feedback.sqlite3");
    citebot_discord::feedback::FeedbackStore::open(&db.clone().into())
        .expect("a new feedback database");
    let db = db.to_str().expect("UTF-8 temp path");
    assert_quiet_end_without_reader(&workspace, &["feedback", "--db", db], None);
    assert_quiet_end_without_reader(&workspace, &["feedback", "--db", db, "--export", "-"], None);
}
