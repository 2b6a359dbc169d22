//! The command line as a user sees it: output checked as snapshots (tests/it/snapshots/), the
//! JSON contract, exit statuses, and questions that look like query syntax.

use citebot_test_support as common;

use common::{redact, stdout_of, Workspace};
use predicates::prelude::*;
use serde_json::Value;

fn json_line(workspace: &Workspace, args: &[&str]) -> Value {
    let out = stdout_of(&mut workspace.citebot(args));
    serde_json::from_str(out.trim()).expect("one JSON object")
}

#[test]
fn ask_answers_with_passage_sentence_and_sources() {
    let workspace = Workspace::shipped();
    let output = workspace
        .citebot(&["ask", "How is calcinosis cutis treated?"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    insta::assert_snapshot!("ask_treatment", redact(&stdout, workspace.root()));
}

#[test]
fn ask_off_topic_says_plainly_there_is_no_answer() {
    let workspace = Workspace::shipped();
    let output = workspace
        .citebot(&["ask", "who won the world cup"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "no answer exits 1");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    insta::assert_snapshot!("ask_off_topic", redact(&stdout, workspace.root()));
}

/// The reader turned on (it ships off): the compiled-in file is joined to the installed model
/// and reads the passages shown. On the seed's plainest question it keeps the answer the
/// ranker gives, and it still refuses an off-topic one.
#[test]
fn ask_with_the_reader_on_answers_as_the_ranker_does_on_a_plain_question() {
    let workspace = Workspace::shipped();
    let off = stdout_of(&mut workspace.citebot(&["ask", "How is calcinosis cutis treated?"]));
    workspace.write_config("[meaning]\nreader = true\n");
    let on = stdout_of(&mut workspace.citebot(&["ask", "How is calcinosis cutis treated?"]));
    assert_eq!(on, off);
    let output = workspace
        .citebot(&["ask", "who won the world cup"])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "no answer exits 1: {output:?}"
    );
}

/// A `reader_file` that is not a reader is refused at start, naming the file and the setting.
#[test]
fn a_broken_reader_file_is_refused_with_the_file_and_the_setting() {
    let workspace = Workspace::shipped();
    std::fs::write(workspace.root().join("reader.safetensors"), b"not a reader").expect("write");
    workspace.write_config("[meaning]\nreader = true\nreader_file = \"reader.safetensors\"\n");
    let stderr = workspace.error_of(&["ask", "How is calcinosis cutis treated?"]);
    assert!(stderr.contains("reader.safetensors"), "{stderr}");
    assert!(stderr.contains("reader_file"), "{stderr}");
    assert!(stderr.contains("not a safetensors file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn ask_about_something_the_article_never_mentions_names_it() {
    let workspace = Workspace::shipped();
    let stdout =
        stdout_of(&mut workspace.citebot(&["ask", "does CO2 laser treatment work on calcinosis"]));
    insta::assert_snapshot!("ask_not_in_article", redact(&stdout, workspace.root()));
}

#[test]
fn search_json_follows_the_contract() {
    let workspace = Workspace::shipped();
    let value = json_line(&workspace, &["search", "--json", "diltiazem"]);
    assert_eq!(value["query"], "diltiazem");
    assert_eq!(value["answered"], true);
    assert!(value["took_us"].is_u64());
    let first = &value["passages"][0];
    for field in [
        "id",
        "article",
        "section",
        "section_path",
        "text",
        "refs",
        "score",
    ] {
        assert!(!first[field].is_null(), "missing {field}");
    }
    assert_eq!(first["section"], "Treatment");
    assert_eq!(first["article"], "calcinosis-cutis");
    let text = first["text"].as_str().expect("text");
    let article = std::fs::read_to_string(common::repo_root().join("corpus/calcinosis-cutis.txt"))
        .expect("article");
    assert!(article.contains(text), "text is exactly the article's");
    assert!(first["refs"]
        .as_array()
        .expect("refs")
        .contains(&Value::from(1)));
}

#[test]
fn venipuncture_finds_the_iatrogenic_passage() {
    let workspace = Workspace::shipped();
    let value = json_line(&workspace, &["search", "--json", "venipuncture"]);
    let top: Vec<&str> = value["passages"]
        .as_array()
        .expect("passages")
        .iter()
        .take(2)
        .filter_map(|p| p["section"].as_str())
        .collect();
    assert!(top.contains(&"Iatrogenic calcinosis cutis"), "{top:?}");
}

#[test]
fn off_topic_search_is_not_answered() {
    let workspace = Workspace::shipped();
    let value = json_line(&workspace, &["search", "--json", "who won the world cup"]);
    assert_eq!(value["answered"], false);
    assert_eq!(value["passages"].as_array().map(Vec::len), Some(0));
}

/// `citebot search --json -` with `input` on standard input: its JSON lines.
fn search_stdin(workspace: &Workspace, input: &str) -> Vec<Value> {
    let output = workspace
        .citebot(&["search", "--json", "-"])
        .write_stdin(input.to_string())
        .output()
        .expect("runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect()
}

#[test]
fn search_from_stdin_answers_line_by_line_in_order() {
    let workspace = Workspace::shipped();
    let lines = search_stdin(
        &workspace,
        "diltiazem\nwho won the world cup\n\nvenipuncture\n",
    );
    let queries: Vec<&str> = lines.iter().filter_map(|v| v["query"].as_str()).collect();
    assert_eq!(
        queries,
        ["diltiazem", "who won the world cup", "", "venipuncture"]
    );
    assert_eq!(lines[1]["answered"], false);
    assert_eq!(lines[2]["answered"], false);
}

#[test]
fn search_from_stdin_keeps_input_order_across_workers() {
    // Answered on every core: a long batch of different questions must still come back one
    // line each, in the order asked, and the same as asking them one by one.
    let workspace = Workspace::shipped();
    let questions: Vec<String> = (0..400)
        .map(|i| match i % 4 {
            0 => format!("what causes calcinosis {i}"),
            1 => format!("question number {i} about football"),
            2 => format!("is diltiazem used {i}"),
            _ => format!("venipuncture in newborns {i}"),
        })
        .collect();
    let lines = search_stdin(&workspace, &questions.join("\n"));
    let queries: Vec<&str> = lines.iter().filter_map(|v| v["query"].as_str()).collect();
    assert_eq!(queries, questions);
    for (question, line) in questions.iter().zip(&lines).step_by(37) {
        let alone = json_line(&workspace, &["search", "--json", question]);
        assert_eq!(alone["passages"], line["passages"], "{question}");
    }
}

#[test]
fn search_from_stdin_answers_each_line_before_the_input_ends() {
    // A script talking to `search -` one line at a time must get each answer at once, not
    // when its input closes.
    use std::io::{BufRead, BufReader, Write};
    let workspace = Workspace::shipped();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_citebot"))
        .arg("--config")
        .arg(workspace.config_path())
        .args(["search", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for question in ["diltiazem", "venipuncture"] {
        writeln!(stdin, "{question}").expect("write");
        stdin.flush().expect("flush");
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("an answer while the input is still open");
        let value: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["query"], question);
    }
    drop(stdin);
    assert!(child.wait().expect("exits").success());
}

#[test]
fn questions_are_never_query_syntax() {
    let workspace = Workspace::shipped();
    let long = "calcium ".repeat(12_500);
    for question in [
        "C++?",
        "\"unbalanced",
        "field:value",
        "AND OR NOT",
        "(",
        "*",
        "🦴",
        "",
        long.as_str(),
    ] {
        let value = json_line(&workspace, &["search", "--json", "--", question]);
        assert!(value["answered"].is_boolean(), "{question:.20}: {value}");
    }
}

#[test]
fn refs_list_and_one_reference_with_links() {
    let workspace = Workspace::shipped();
    let list = stdout_of(&mut workspace.citebot(&["refs"]));
    insta::assert_snapshot!("refs_list", list);
    let one = stdout_of(&mut workspace.citebot(&["refs", "15"]));
    insta::assert_snapshot!("refs_15", one);
    let json = json_line(&workspace, &["refs", "15", "--json"]);
    assert_eq!(json["number"], 15);
    assert_eq!(json["pmid"], "21848465");
    assert_eq!(json["container"], "New England Journal of Medicine");
    assert_eq!(json["year"], 2011);
    for field in ["authors", "title", "doi", "pmc", "isbn", "url", "raw"] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
}

#[test]
fn refs_outside_the_list_is_a_clear_error() {
    let workspace = Workspace::shipped();
    workspace.citebot(&["refs", "99"]).assert().code(2).stderr(
        predicate::str::contains("no reference 99").and(predicate::str::contains("1 to 21")),
    );
}

#[test]
fn index_prints_a_summary() {
    let workspace = Workspace::shipped();
    let stdout = stdout_of(&mut workspace.citebot(&["index"]));
    insta::assert_snapshot!("index_summary", redact(&stdout, workspace.root()));
}

#[test]
fn help_has_examples_everywhere() {
    let workspace = Workspace::shipped();
    for command in [
        vec!["--help"],
        vec!["ask", "--help"],
        vec!["search", "--help"],
        vec!["refs", "--help"],
        vec!["index", "--help"],
        vec!["eval", "--help"],
    ] {
        workspace
            .citebot(&command)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

#[test]
fn missing_corpus_is_one_clear_line() {
    let workspace = Workspace::shipped();
    std::fs::write(
        workspace.config_path(),
        format!(
            "corpus_dir = \"/nonexistent/corpus\"\nindex_dir = {:?}\n",
            workspace.index_dir()
        ),
    )
    .expect("config");
    let stderr = workspace.error_of(&["ask", "diltiazem"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/corpus") && stderr.contains("corpus_dir"),
        "{stderr}"
    );
}

#[test]
fn unknown_config_key_is_refused_with_its_line() {
    let workspace = Workspace::shipped();
    workspace.write_config("[search]\ntopp = 3\n");
    workspace
        .citebot(&["ask", "diltiazem"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line").and(predicate::str::contains("topp")));
}

/// A vocabulary file the config names but that is not there is an error, not a quiet loss of
/// every synonym; without the setting, a corpus with no vocabulary file still answers.
#[test]
fn a_named_vocabulary_file_that_is_missing_is_one_clear_line() {
    let workspace = Workspace::shipped();
    workspace.write_config("");
    let config = std::fs::read_to_string(workspace.config_path()).expect("config");
    let wrong = config.replace("vocabulary.toml", "vocabulary-typo.toml");
    assert_ne!(
        config, wrong,
        "the workspace's config names the vocabulary: {config}"
    );
    std::fs::write(workspace.config_path(), wrong).expect("config");
    let stderr = workspace.error_of(&["ask", "diltiazem"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("vocabulary-typo.toml") && stderr.contains("vocabulary_file"),
        "{stderr}"
    );

    let unnamed = config
        .lines()
        .filter(|line| !line.starts_with("vocabulary_file"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(workspace.config_path(), unnamed).expect("config");
    workspace
        .citebot(&["ask", "diltiazem"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Diltiazem"));
}

// Operator conventions (issue 27): exit statuses for systemd, CITEBOT_CONFIG, logging, --json,
// completions and the manual page.

/// A port another process holds is a transient start failure: exit status 75 (EX_TEMPFAIL),
/// which deploy/citebot@.service restarts, unlike 2.
#[test]
fn a_busy_port_exits_75_so_systemd_restarts_serve() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let busy = holder.local_addr().expect("its address");
    let workspace = Workspace::shipped();
    workspace.write_config(&format!("[http]\nlisten = \"{busy}\"\n"));
    let output = common::run(
        workspace
            .citebot(&["serve"])
            .env_remove("DISCORD_PUBLIC_KEY")
            .timeout(std::time::Duration::from_secs(60)),
    );
    common::assert_no_panic(&output, "serve on a busy port");
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(75), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("citebot: cannot listen on") && stderr.contains(&busy.to_string()),
        "{stderr}"
    );
}

/// A feedback database that is not up yet (PostgreSQL refusing connections) is a transient
/// start failure too: `serve` exits 75.
#[test]
fn a_feedback_database_not_up_yet_exits_75() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    // The listener is dropped here, so nothing listens on the port.
    let url = format!("postgres://citebot@{closed}/citebot");
    let workspace = Workspace::shipped();
    workspace.write_config(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[discord]\nfeedback_db = \"{url}\"\n"
    ));
    let output = common::run(
        workspace
            .citebot(&["serve"])
            .env_remove("DISCORD_PUBLIC_KEY")
            .env_remove("CITEBOT_FEEDBACK_DB")
            .env_remove("PGPASSWORD"),
    );
    common::assert_no_panic(&output, "serve without its database");
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.lines().last().is_some_and(
            |line| line.starts_with("citebot: cannot connect to the feedback database")
        ),
        "{stderr}"
    );
}

/// A bad setting, or a usage error clap reports, exits 2: the status the unit's
/// RestartPreventExitStatus= names, so systemd does not restart what would fail again.
#[test]
fn a_bad_config_or_usage_exits_2_so_systemd_does_not_restart() {
    let workspace = Workspace::shipped();
    workspace.write_config("[http]\nlisten = \"nonsense\"\n");
    let output = common::run(&mut workspace.citebot(&["serve"]));
    common::assert_clear_error(
        &output,
        "serve with a bad listen",
        &["http.listen", "nonsense"],
    );
    let output = common::run(&mut workspace.citebot(&["ask", "diltiazem"]));
    common::assert_clear_error(&output, "ask with a bad listen", &["http.listen"]);
    for usage in [
        &["--no-such-flag"][..],
        &["ask"][..],
        &["ask", "--top", "0", "diltiazem"][..],
        &["completions", "tcsh"][..],
        &["--log-format", "xml", "index"][..],
    ] {
        let output = common::run(common::citebot_command().args(usage));
        assert_eq!(
            output.status.code(),
            Some(2),
            "citebot {usage:?}: {output:?}"
        );
    }
    common::citebot_command()
        .args(["index"])
        .env("CITEBOT_LOG_FORMAT", "xml")
        .assert()
        .code(2);
}

/// `CITEBOT_CONFIG` names the settings file; an explicit `--config` wins over it.
#[test]
fn citebot_config_names_the_settings_file() {
    let workspace = Workspace::shipped();
    // Run from a folder with neither config.toml nor corpus/: the defaults would find no corpus.
    let elsewhere = tempfile::tempdir().expect("a folder");
    let from_env = common::run(
        common::citebot_command()
            .current_dir(elsewhere.path())
            .env("CITEBOT_CONFIG", workspace.config_path())
            .args(["refs", "15"]),
    );
    common::assert_ok(&from_env, "refs with CITEBOT_CONFIG");
    let from_flag = stdout_of(&mut workspace.citebot(&["refs", "15"]));
    assert_eq!(common::stdout(&from_env), from_flag);
    let defaults = common::run(
        common::citebot_command()
            .current_dir(elsewhere.path())
            .args(["refs", "15"]),
    );
    common::assert_clear_error(&defaults, "refs without any config", &["corpus"]);
    // --config wins, even over a CITEBOT_CONFIG that names nothing.
    let both = common::run(
        workspace
            .citebot(&["refs", "15"])
            .current_dir(elsewhere.path())
            .env("CITEBOT_CONFIG", elsewhere.path().join("missing.toml")),
    );
    common::assert_ok(&both, "refs with --config and a wrong CITEBOT_CONFIG");
}

/// A settings file named by `--config` or `CITEBOT_CONFIG` that is not there is an error
/// naming it and what named it, never a quiet run on the defaults; only the implicit
/// config.toml in the working directory may be absent.
#[test]
fn a_named_config_that_does_not_exist_is_an_error_not_the_defaults() {
    let workspace = Workspace::with_seed_corpus();
    let missing = workspace.root().join("missing.toml");
    let missing_text = missing.display().to_string();
    let output = common::run(
        common::citebot_command()
            .arg("--config")
            .arg(&missing)
            .args(["refs", "15"]),
    );
    common::assert_clear_error(
        &output,
        "--config missing.toml",
        &[&missing_text, "named by --config", "does not exist"],
    );
    let output = common::run(
        common::citebot_command()
            .env("CITEBOT_CONFIG", &missing)
            .args(["refs", "15"]),
    );
    common::assert_clear_error(
        &output,
        "CITEBOT_CONFIG=missing.toml",
        &[&missing_text, "named by CITEBOT_CONFIG", "does not exist"],
    );
    // `--config config.toml`, named and absent, used to mean the defaults; now it is an error.
    std::fs::remove_file(workspace.config_path()).expect("remove config.toml");
    let output = common::run(
        common::citebot_command()
            .current_dir(workspace.root())
            .args(["--config", "config.toml", "refs", "15"]),
    );
    common::assert_clear_error(
        &output,
        "--config config.toml",
        &["config.toml", "--config"],
    );
    // Unnamed and absent: the defaults (corpus/ and index/ in the working directory).
    let output = common::run(
        common::citebot_command()
            .current_dir(workspace.root())
            .args(["refs", "15"]),
    );
    common::assert_ok(&output, "refs with the implicit config.toml absent");
    assert!(common::stdout(&output).contains("21848465"));
}

/// Each stderr line of `output` as JSON; panics on one that is not.
fn json_log_lines(output: &std::process::Output) -> Vec<Value> {
    common::stderr(output)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("a log line that is not JSON ({error}): {line}"))
        })
        .collect()
}

/// `RUST_LOG` sets what is logged, `--log-format json` (or `CITEBOT_LOG_FORMAT=json`) writes
/// each event as a JSON line on stderr, and stdout keeps only the command's output.
#[test]
fn rust_log_and_json_log_format_write_json_lines_on_stderr_only() {
    let workspace = Workspace::with_seed_corpus();
    let output = common::run(
        workspace
            .citebot(&["--log-format", "json", "index"])
            .env("RUST_LOG", "debug"),
    );
    common::assert_ok(&output, "index with JSON logs");
    let stdout = common::stdout(&output);
    assert!(stdout.starts_with("indexed 1 article"), "{stdout}");
    assert!(!stdout.contains('{'), "no log on stdout: {stdout}");
    let events = json_log_lines(&output);
    assert!(!events.is_empty(), "RUST_LOG=debug logs something");
    for event in &events {
        assert!(
            event["level"].is_string() && event["fields"].is_object(),
            "{event}"
        );
    }
    assert!(
        events.iter().any(|event| event["level"] == "DEBUG"),
        "debug events are written"
    );

    // The environment variable does the same as the flag.
    let output = common::run(
        workspace
            .citebot(&["index"])
            .env("RUST_LOG", "debug")
            .env("CITEBOT_LOG_FORMAT", "json"),
    );
    common::assert_ok(&output, "index with CITEBOT_LOG_FORMAT=json");
    assert!(!json_log_lines(&output).is_empty());

    // CITEBOT_LOG, the older name, wins over RUST_LOG; without either, an index build logs
    // nothing.
    let output = common::run(
        workspace
            .citebot(&["index"])
            .env("RUST_LOG", "debug")
            .env("CITEBOT_LOG", "off"),
    );
    common::assert_ok(&output, "index with CITEBOT_LOG=off");
    assert_eq!(common::stderr(&output), "");
    let output = common::run(&mut workspace.citebot(&["index"]));
    common::assert_ok(&output, "index with the default logging");
    assert_eq!(common::stderr(&output), "");
}

/// `ask --json` prints the answer exactly as `GET /v1/ask` returns it (the same type), one
/// object on one line; no answer still exits 1.
#[test]
fn ask_json_is_the_answer_of_v1_ask() {
    let workspace = Workspace::shipped();
    let output =
        common::run(&mut workspace.citebot(&["ask", "--json", "How is calcinosis cutis treated?"]));
    common::assert_ok(&output, "ask --json");
    let stdout = common::stdout(&output);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let mut value: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert!(value["took_us"].is_u64());
    value["took_us"] = Value::from("[US]");
    insta::assert_json_snapshot!("ask_json_treatment", value);

    let output = common::run(&mut workspace.citebot(&["ask", "--json", "who won the world cup"]));
    assert_eq!(output.status.code(), Some(1), "no answer exits 1");
    let value: Value = serde_json::from_str(&common::stdout(&output)).expect("JSON");
    assert_eq!(value["answered"], false);
    assert!(value["reason"].is_string(), "{value}");
    assert_eq!(value["passages"], Value::Array(Vec::new()));

    // An emergency gets the notice first, in JSON as on the page and in `/v1/ask`, and in text.
    let emergency = "I took an overdose of calcium tablets, what happens?";
    let output = common::run(&mut workspace.citebot(&["ask", "--json", emergency]));
    let value: Value = serde_json::from_str(&common::stdout(&output)).expect("JSON");
    assert!(
        value["emergency"]
            .as_str()
            .is_some_and(|notice| notice.starts_with("If this is an emergency")),
        "{value}"
    );
    let text = common::stdout(&common::run(&mut workspace.citebot(&["ask", emergency])));
    assert!(text.starts_with("If this is an emergency"), "{text}");
    let text = common::stdout(&common::run(
        &mut workspace.citebot(&["ask", "How is calcinosis cutis treated?"]),
    ));
    assert!(!text.contains("If this is an emergency"), "{text}");
}

/// `feedback --json` prints the summary as one JSON object.
#[test]
fn feedback_json_prints_the_summary_as_one_object() {
    use citebot_discord::feedback::{FeedbackStore, Vote};
    let workspace = Workspace::shipped();
    let db = workspace.root().join("feedback.sqlite3");
    let store = FeedbackStore::open(&db.clone().into()).expect("a feedback file");
    for (ask, user, question, up) in [
        ("1", 1, "Is it contagious?", false),
        ("2", 2, "Is it contagious?", false),
        ("3", 1, "How is it treated?", true),
    ] {
        store
            .record(&Vote {
                ask_key: ask.to_string(),
                user_id: user,
                question: question.to_string(),
                answer_ids: vec!["calcinosis-cutis#p15".to_string()],
                answered: true,
                up,
            })
            .expect("a vote");
    }
    drop(store);
    let db_arg = db.display().to_string();
    let output = common::run(&mut workspace.citebot(&["feedback", "--json", "--db", &db_arg]));
    common::assert_ok(&output, "feedback --json");
    let stdout = common::stdout(&output);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let value: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(value["database"], db_arg);
    assert_eq!(value["votes"], 3);
    assert_eq!(value["people"], 2);
    assert_eq!(value["questions"], 2);
    assert_eq!(value["answered"], serde_json::json!({"up": 1, "down": 2}));
    assert_eq!(value["down_voted"][0]["question"], "Is it contagious?");
    assert_eq!(value["down_voted"][0]["down"], 2);
    // The text summary is still the default.
    let text = stdout_of(&mut workspace.citebot(&["feedback", "--db", &db_arg]));
    assert!(
        text.contains("3 votes: 1 up, 2 down, from 2 people on 2 questions"),
        "{text}"
    );
    // Two things on stdout at once is a usage error.
    let output = common::run(
        &mut workspace.citebot(&["feedback", "--json", "--export", "-", "--db", &db_arg]),
    );
    common::assert_clear_error(
        &output,
        "feedback --json --export -",
        &["--json", "--export"],
    );
}

/// Completions and the manual page come from the clap definitions, need no settings (a
/// broken config.toml does not stop a packager), and go to stdout.
#[test]
fn completions_and_the_man_page_are_generated_from_the_commands() {
    let workspace = Workspace::shipped();
    workspace.write_config("[serach]\n");
    let bash = stdout_of(&mut workspace.citebot(&["completions", "bash"]));
    assert!(bash.contains("_citebot()"), "{bash:.200}");
    for command in [
        "ask",
        "search",
        "refs",
        "index",
        "serve",
        "completions",
        "man",
    ] {
        assert!(bash.contains(command), "bash completes {command}");
    }
    assert!(bash.contains("--log-format") && bash.contains("--config"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = common::run(&mut workspace.citebot(&["completions", shell]));
        common::assert_ok(&output, shell);
        assert!(common::stdout(&output).contains("ask"), "{shell}");
    }
    let man = stdout_of(&mut workspace.citebot(&["man"]));
    assert!(man.contains(".TH citebot 1"), "{man:.300}");
    assert!(man.contains(".SH NAME"), "{man:.300}");
    assert!(
        man.contains("CITEBOT_CONFIG"),
        "the man page names the environment"
    );
}
