//! Bad input, through the real binary: every question and article that can go wrong, each with
//! the outcome citebot promises (see RELIABILITY.md for the table).
//!
//! The promise: an answer or a clear one-line message (what, where, what to do); a non-zero
//! exit status only for "no answer" (`ask`: 1, documented like grep's) and errors (2); never a
//! panic or a backtrace.

use citebot_test_support as common;

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use common::{
    assert_clear_error, assert_no_panic, assert_ok, json_lines, run, shared_seed_env, stderr,
    stdout, truncate, Workspace, ANSWERED_QUESTION,
};

/// What a question must get: the outcome a person asking it should see.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Nothing searchable: an abstention saying so (`no_searchable_words`).
    NoWords,
    /// Answered, the Treatment passage on diltiazem first: the question holds "diltiazem"
    /// (or the whole [`ANSWERED_QUESTION`]) amid the noise.
    Diltiazem,
    /// Answered, with the same first passage as [`ANSWERED_QUESTION`] asked plainly: the
    /// noise around the question changes nothing.
    LikeTheQuestion,
    /// Answered with reference `n`'s own entry first: the question asks for that reference.
    Reference(u64),
    /// Words, but none the article answers: no answer, with the reason why (a reason other
    /// than `no_searchable_words`, since there are words).
    Abstain,
}

/// The passage the seed article answers diltiazem questions with.
const DILTIAZEM_PASSAGE_START: &str = "Diltiazem, a calcium channel blocker";

/// Asks `question` three ways (`search --json` argument, `search --json -` on stdin when it is
/// one line, `ask`) and checks each outcome.
fn check_question(question: &str, expect: Expect) {
    let env = shared_seed_env();

    let output = run(env.command().args(["search", "--json", "--"]).arg(question));
    check_search_output(&output, question, expect, "search --json <arg>");

    if !question.contains(['\n', '\r']) {
        let output = run(env
            .command()
            .args(["search", "--json", "-"])
            .write_stdin(format!("{question}\n")));
        check_search_output(&output, question, expect, "search --json - (stdin)");
    }

    let output = run(env.command().args(["ask", "--"]).arg(question));
    assert_no_panic(&output, "ask");
    let code = output.status.code();
    let answers = !matches!(expect, Expect::NoWords | Expect::Abstain);
    assert_eq!(
        code,
        Some(if answers { 0 } else { 1 }),
        "ask {question:?} should {}: {}",
        if answers { "answer" } else { "abstain" },
        stderr(&output)
    );
    let shown = stdout(&output);
    assert!(!shown.trim().is_empty(), "ask {question:?} printed nothing");
    if code == Some(1) {
        assert!(
            shown.contains("No answer"),
            "an abstention says so plainly: {shown}"
        );
    }
    if expect == Expect::Diltiazem {
        assert!(
            shown.contains(DILTIAZEM_PASSAGE_START),
            "ask {question:?} shows the diltiazem passage: {shown}"
        );
    }
    assert!(
        !shown.contains(['\u{1b}', '\u{7}']),
        "ask must not echo terminal control characters: {shown:?}"
    );
}

fn check_search_output(output: &std::process::Output, question: &str, expect: Expect, how: &str) {
    assert_ok(output, how);
    let lines = json_lines(output);
    assert_eq!(lines.len(), 1, "{how}: one JSON line per query");
    let response = &lines[0];
    let answered = response["answered"]
        .as_bool()
        .unwrap_or_else(|| panic!("{how}: `answered` must be a boolean: {response}"));
    let passages = response["passages"]
        .as_array()
        .unwrap_or_else(|| panic!("{how}: `passages` must be an array: {response}"));
    assert_eq!(
        answered,
        !passages.is_empty(),
        "{how}: passages only with an answer"
    );
    let echoed = response["query"].as_str().unwrap_or_default();
    if !question.contains(['\n', '\r']) {
        assert_eq!(echoed, question, "{how}: the query is echoed exactly");
    }
    let first = &passages.first().cloned().unwrap_or_default();
    let shown = truncate(question, 80);
    match expect {
        Expect::NoWords => {
            assert!(!answered, "{how}: {shown:?} has no words: {response}");
            assert_eq!(response["reason"], "no_searchable_words", "{how}");
        }
        Expect::Diltiazem => {
            assert!(answered, "{how}: {shown:?} should be answered: {response}");
            assert_eq!(first["section"], "Treatment", "{how}: {shown:?}: {first}");
            assert!(
                first["text"]
                    .as_str()
                    .is_some_and(|text| text.starts_with(DILTIAZEM_PASSAGE_START)),
                "{how}: {shown:?}: the diltiazem passage comes first: {first}"
            );
        }
        Expect::LikeTheQuestion => {
            assert!(answered, "{how}: {shown:?} should be answered: {response}");
            assert_eq!(
                first["id"],
                plain_answer_first_passage(),
                "{how}: {shown:?} gets the plain question's answer: {first}"
            );
        }
        Expect::Reference(number) => {
            assert!(answered, "{how}: {shown:?} should be answered: {response}");
            assert_eq!(first["kind"], "reference", "{how}: {shown:?}: {first}");
            assert_eq!(first["refs"], serde_json::json!([number]), "{how}: {first}");
        }
        Expect::Abstain => {
            assert!(!answered, "{how}: {shown:?} should abstain: {response}");
            let reason = response["reason"].as_str().unwrap_or_default();
            assert!(
                !reason.is_empty() && reason != "no_searchable_words",
                "{how}: {shown:?} has words, so the abstention names another reason: {response}"
            );
        }
    }
}

/// The id of the first passage [`ANSWERED_QUESTION`] gets, asked without noise.
fn plain_answer_first_passage() -> serde_json::Value {
    static FIRST: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    FIRST
        .get_or_init(|| {
            let output =
                run(shared_seed_env()
                    .command()
                    .args(["search", "--json", ANSWERED_QUESTION]));
            assert_ok(&output, "the plain question");
            let response = json_lines(&output).remove(0);
            assert_eq!(response["answered"], true, "{response}");
            response["passages"][0]["id"].clone()
        })
        .clone()
}

macro_rules! question_cases {
    ($($name:ident: $question:expr => $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check_question(&$question, $expect);
            }
        )*
    };
}

question_cases! {
    empty_question: "" => Expect::NoWords;
    whitespace_question: " \t  \u{a0}\u{3000} " => Expect::NoWords;
    newlines_only_question: "\n\r\n\n" => Expect::NoWords;
    control_characters_question: "\u{1}\u{2}\u{7}\u{8}\u{1b}\u{7f}\u{9b}" => Expect::NoWords;
    terminal_escape_sequences: "\u{1b}[31m\u{1b}[2J\u{1b}]0;title\u{7}" => Expect::NoWords;
    control_characters_around_a_question:
        format!("\u{1b}]0;title\u{7}{ANSWERED_QUESTION}\u{1b}[0m") => Expect::LikeTheQuestion;
    right_to_left_text: "\u{202e}ما هو العلاج\u{202c} \u{5e2}\u{5d1}\u{5e8}\u{5d9}\u{5ea}" =>
        Expect::Abstain;
    right_to_left_override_around_a_question:
        format!("\u{202e}{ANSWERED_QUESTION}\u{202c}") => Expect::LikeTheQuestion;
    zero_width_characters: "\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}" => Expect::NoWords;
    zero_width_characters_inside_words: "dil\u{200b}tia\u{200d}zem" => Expect::Diltiazem;
    emoji_only: "😀🩺💊🧬👩‍⚕️🏳️‍🌈" => Expect::NoWords;
    emoji_around_a_question: format!("🤔 {ANSWERED_QUESTION} 💊🙏") => Expect::LikeTheQuestion;
    lone_double_quote: "\"" => Expect::NoWords;
    unbalanced_quote_in_a_question: format!("\"{ANSWERED_QUESTION}") => Expect::LikeTheQuestion;
    field_syntax: "text:diltiazem title:*" => Expect::Diltiazem;
    field_syntax_around_a_question: format!("text:{ANSWERED_QUESTION} title:*") => Expect::LikeTheQuestion;
    wildcards: "* ? ** dilt*" => Expect::Abstain;
    boolean_operators: "AND OR NOT" => Expect::NoWords;
    boolean_operators_around_words: "diltiazem AND NOT (calcinosis OR cutis)" => Expect::Diltiazem;
    open_parenthesis: "(" => Expect::NoWords;
    backslashes: "\\ \\\\ \\\" \\n" => Expect::NoWords;
    tantivy_query_syntax: "+diltiazem -calcinosis^2 \"calcium channel\"~3 [a TO z] {1 TO 2}" =>
        Expect::Diltiazem;
    discord_markdown: format!("**{ANSWERED_QUESTION}** __underline__ ~~strike~~ ||spoiler||") =>
        Expect::LikeTheQuestion;
    // Most of the message is code the article never mentions: too little of it is answered.
    discord_code_fence: "```rust\nfn main() { panic!(\"x\") }\n```\ndiltiazem?" => Expect::Abstain;
    discord_code_fence_around_a_question: format!("```\n{ANSWERED_QUESTION}\n```") => Expect::LikeTheQuestion;
    discord_inline_code: "`diltiazem` `` `` `" => Expect::Diltiazem;
    everyone_mention: "@everyone @here" => Expect::NoWords;
    everyone_mention_with_a_question: format!("@everyone {ANSWERED_QUESTION}") => Expect::LikeTheQuestion;
    user_mention: "<@123456789012345678> <@!42>" => Expect::NoWords;
    role_and_channel_mentions: "<@&987654321> <#555> <a:wave:123> <:ok:456>" => Expect::NoWords;
    mention_with_a_question: format!("<@123> {ANSWERED_QUESTION} <@&456>") => Expect::LikeTheQuestion;
    html_and_script: "<script>alert(1)</script> <b>diltiazem</b>" => Expect::Diltiazem;
    html_around_a_question: format!("<b>{ANSWERED_QUESTION}</b><br/>") => Expect::LikeTheQuestion;
    sql_and_shell: "'; DROP TABLE passages; -- $(rm -rf /) `id`" => Expect::Abstain;
    // JSON keys and values are words of the message the article lacks ("query", "answered").
    json_text: "{\"query\": \"diltiazem\", \"answered\": true}" => Expect::Abstain;
    // The article has 21 references: no answer rather than unrelated ones.
    reference_number_out_of_range: "reference 99999" => Expect::Abstain;
    reference_marker_only: "[15]" => Expect::Reference(15);
    only_stop_words: "what is the is a of it" => Expect::NoWords;
    // Longer than any word the index keeps: nothing to search for.
    very_long_word: "x".repeat(5000) => Expect::NoWords;
    many_distinct_words: (0..3000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ") =>
        Expect::Abstain;
    combining_marks: "d\u{301}\u{302}\u{303}iltiazem c\u{327}alcinosis" => Expect::Diltiazem;
    surrogate_like_text: "\u{fffd}\u{fffe}\u{ffff}\u{10ffff}" => Expect::NoWords;
}

/// A 100 KB question fits in one argument (Linux allows 128 KiB per argument) and is answered
/// from its beginning, like a pasted wall of text.
#[test]
fn question_of_100_kb_as_argument_and_on_stdin() {
    let env = shared_seed_env();
    let question = format!("{ANSWERED_QUESTION} ").repeat(100 * 1024 / ANSWERED_QUESTION.len());
    assert!(question.len() >= 100 * 1024);

    for args in [
        vec!["search", "--json", "--", question.as_str()],
        vec!["ask", "--", question.as_str()],
    ] {
        let started = Instant::now();
        let output = run(env.command().args(&args));
        eprintln!("100 KB question, {}: {:?}", args[0], started.elapsed());
        assert_ok(&output, args[0]);
    }
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(format!("{question}\n")));
    assert_ok(&output, "search --json - with 100 KB");
    assert_eq!(json_lines(&output)[0]["answered"], true);
}

/// 10 MB on standard input: one query line of 10 MB is answered (from its beginning) and
/// echoed whole; time is measured, not asserted tightly.
#[test]
fn question_of_10_mb_on_stdin() {
    let env = shared_seed_env();
    let question =
        format!("{ANSWERED_QUESTION} ").repeat(10 * 1024 * 1024 / ANSWERED_QUESTION.len());
    let started = Instant::now();
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(format!("{question}\nvenipuncture\n")));
    eprintln!("10 MB question on stdin: {:?}", started.elapsed());
    assert_ok(&output, "search --json - with 10 MB");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2, "one line per query, the big one included");
    assert_eq!(lines[0]["answered"], true);
    assert_eq!(
        lines[0]["query"].as_str().map(str::len),
        Some(question.len())
    );
    assert_eq!(
        lines[1]["answered"], true,
        "the next query is still answered"
    );
}

/// 10 MB with no newline at all: the last line without its end is still a query.
#[test]
fn question_of_10_mb_on_stdin_without_a_line_end() {
    let env = shared_seed_env();
    let question = "calcinosis ".repeat(10 * 1024 * 1024 / 11);
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(question));
    assert_ok(&output, "search --json - with 10 MB and no newline");
    assert_eq!(json_lines(&output).len(), 1);
}

/// A 10 MB argument cannot reach citebot on Linux: the kernel refuses it (E2BIG, "Argument
/// list too long", MAX_ARG_STRLEN is 128 KiB per argument) before citebot starts. Use
/// `search --json -` for long input. Where an OS does pass it, citebot must answer.
#[test]
fn question_of_10_mb_as_argument() {
    let env = shared_seed_env();
    let question = "calcinosis ".repeat(10 * 1024 * 1024 / 11);
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("citebot"));
    command
        .arg("--config")
        .arg(env.config_path())
        .args(["search", "--json", "--"])
        .arg(&question)
        .env_remove("CITEBOT_LOG")
        .env("RUST_BACKTRACE", "1");
    match command.output() {
        Err(error) => {
            assert_eq!(
                error.raw_os_error(),
                Some(7),
                "expected E2BIG (os error 7), got {error}"
            );
            eprintln!("10 MB argument refused by the OS as expected: {error}");
        }
        Ok(output) => {
            assert_ok(&output, "search with a 10 MB argument");
            assert_eq!(json_lines(&output).len(), 1);
        }
    }
}

/// A NUL byte cannot be passed in an argument (C strings end at NUL); on stdin it is a
/// character like any other.
#[test]
fn nul_character_in_argument_and_on_stdin() {
    let env = shared_seed_env();
    let with_nul = format!("diltiazem\0{ANSWERED_QUESTION}");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("citebot"));
    command.args(["search", "--json", "--"]).arg(&with_nul);
    let error = command
        .output()
        .expect_err("an argument with a NUL byte cannot be passed to a program");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);

    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(format!("{with_nul}\n\0\n")));
    assert_ok(&output, "NUL on stdin");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["answered"], true);
    assert_eq!(lines[1]["reason"], "no_searchable_words");
}

/// Invalid UTF-8 on stdin: that line gets a JSON error saying which line and what to do; the
/// lines around it are answered; the exit status is 0 (the run itself went fine).
#[test]
fn invalid_utf8_on_stdin() {
    let env = shared_seed_env();
    let mut input = Vec::new();
    input.extend_from_slice(b"diltiazem\n");
    input.extend_from_slice(b"dil\xfftiazem \xc3\x28 \xed\xa0\x80\n");
    input.extend_from_slice(b"\xff\xfe\xfd\n");
    input.extend_from_slice(b"venipuncture\n");
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(input));
    assert_ok(&output, "invalid UTF-8 on stdin");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4, "one JSON line per input line");
    assert_eq!(lines[0]["answered"], true);
    for (line, number) in [(&lines[1], 2), (&lines[2], 3)] {
        let error = line["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("line {number}")) && error.contains("UTF-8"),
            "the error names the line and the problem: {line}"
        );
        assert_eq!(line["answered"], false);
    }
    assert_eq!(lines[3]["answered"], true);

    let output = run(env
        .command()
        .args(["search", "-"])
        .write_stdin(&b"\xff\xfe\ndiltiazem\n"[..]));
    assert_ok(&output, "invalid UTF-8 on stdin, text output");
    assert!(stdout(&output).contains("error: line 1 is not valid UTF-8"));
}

/// Invalid UTF-8 as an argument: clap refuses it with its usage error (exit 2), one error line.
#[test]
fn invalid_utf8_as_argument() {
    let env = shared_seed_env();
    for command in ["search", "ask"] {
        let output = run(env
            .command()
            .arg(command)
            .arg(OsStr::from_bytes(b"dil\xfftiazem")));
        assert_clear_error(&output, command, &["UTF-8"]);
    }
}

/// CRLF line ends and blank lines on stdin: one answer per line, in order.
#[test]
fn crlf_and_blank_lines_on_stdin() {
    let env = shared_seed_env();
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin("diltiazem\r\n\r\n   \r\nvenipuncture\r\n"));
    assert_ok(&output, "CRLF on stdin");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["query"], "diltiazem",
        "the CR is not part of the query"
    );
    assert_eq!(lines[0]["answered"], true);
    assert_eq!(lines[1]["reason"], "no_searchable_words");
    assert_eq!(lines[2]["reason"], "no_searchable_words");
    assert_eq!(lines[3]["answered"], true);
}

/// `search` without `--json` prints text for every kind of bad question too.
#[test]
fn text_search_output_for_bad_questions() {
    let env = shared_seed_env();
    for question in ["", "😀", "\u{1b}[2J", "@everyone", "diltiazem"] {
        let output = run(env.command().args(["search", "--"]).arg(question));
        assert_ok(&output, "search (text)");
        assert!(
            !stdout(&output).contains('\u{1b}'),
            "no terminal escape from the question is echoed"
        );
    }
}

/// Options out of range are refused with one clear line.
#[test]
fn bad_options() {
    let env = shared_seed_env();
    for args in [
        vec!["search", "--top", "0", "x"],
        vec!["search", "--top", "100000", "x"],
        vec!["ask", "--top", "-1", "x"],
        vec!["refs", "notanumber"],
        vec!["refs", "99999999999"],
    ] {
        let output = run(env.command().args(&args));
        assert_clear_error(&output, &args.join(" "), &[]);
    }
}

/// A reference number the article does not have: one line saying the valid range.
#[test]
fn unknown_reference_number() {
    let env = shared_seed_env();
    let output = run(env.command().args(["refs", "999"]));
    assert_clear_error(&output, "refs 999", &["999", "1 to"]);
    let output = run(env
        .command()
        .args(["refs", "--article", "no-such-article", "1"]));
    assert_clear_error(
        &output,
        "refs --article",
        &["no-such-article", "calcinosis-cutis"],
    );
}

// ---------------------------------------------------------------------------------------------
// Bad articles. Each test has its own corpus and index.

fn seed_text() -> String {
    common::seed_article()
}

/// An empty article stops the build with a message naming the file and what to do; `search`
/// says the same instead of answering from nothing.
#[test]
fn empty_article() {
    for content in ["", "   \n\n\t\n", "\u{feff}", "\u{feff}\r\n\r\n"] {
        let env = Workspace::with_articles(&[
            ("calcinosis-cutis.txt", seed_text().as_bytes()),
            ("empty.txt", content.as_bytes()),
        ]);
        let output = run(env.command().arg("index"));
        assert_clear_error(
            &output,
            "index with an empty article",
            &["empty.txt", "empty"],
        );
        let output = run(env.command().args(["search", "diltiazem"]));
        assert_clear_error(&output, "search with an empty article", &["empty.txt"]);
    }
}

/// A binary file saved as .txt: "not valid UTF-8", where, and what to do.
#[test]
fn binary_article() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let env = Workspace::with_articles(&[
        ("calcinosis-cutis.txt", seed_text().as_bytes()),
        ("image.txt", &png),
    ]);
    let output = run(env.command().arg("index"));
    assert_clear_error(
        &output,
        "index with a binary article",
        &["image.txt", "UTF-8", "offset 0"],
    );
}

/// Valid UTF-8 with NUL bytes is binary too.
#[test]
fn article_with_nul_bytes() {
    let text = format!("{}\0\0\0", seed_text());
    let env = Workspace::with_articles(&[("nul.txt", text.as_bytes())]);
    let output = run(env.command().arg("index"));
    assert_clear_error(&output, "index with NUL bytes", &["nul.txt"]);
}

/// An article without a References list is indexed and answered, with a warning that its
/// answers cannot be cited.
#[test]
fn article_without_references() {
    let text = seed_text();
    let body = text
        .split("\nReferences")
        .next()
        .unwrap_or_else(|| panic!("the seed article has a References section"));
    let env = Workspace::with_articles(&[("no-refs.txt", body.as_bytes())]);
    let output = run(env.command().arg("index"));
    assert_ok(&output, "index without references");
    assert!(
        stdout(&output).contains("no References list"),
        "the build warns: {}",
        stdout(&output)
    );
    let output = run(env.command().args(["search", "--json", ANSWERED_QUESTION]));
    assert_ok(&output, "search without references");
    assert_eq!(json_lines(&output)[0]["answered"], true);
    let output = run(env.command().args(["ask", ANSWERED_QUESTION]));
    assert_ok(&output, "ask without references");
    let output = run(env.command().args(["refs", "1"]));
    assert_clear_error(&output, "refs 1 without references", &["no reference 1"]);
}

/// Markers that point to no entry: indexed, a warning per marker, and `refs` says the range.
#[test]
fn markers_to_missing_references() {
    let text = "From Wikipedia, the free encyclopedia\nMissingrefs disease\n\n\
         Missingrefs disease is cited by a marker with no entry. [7] Also [42]: 12–13 here.\n\n\
         References\n\n  1. ^ Doe J (2020). \"A paper\". A Journal. 1 (1): 1–2.\n";
    let env = Workspace::with_articles(&[("missing.txt", text.as_bytes())]);
    let output = run(env.command().arg("index"));
    assert_ok(&output, "index with missing references");
    let printed = stdout(&output);
    assert!(
        printed.contains("marker [7] points to no entry"),
        "{printed}"
    );
    assert!(
        printed.contains("marker [42] points to no entry"),
        "{printed}"
    );
    let output = run(env
        .command()
        .args(["search", "--json", "missingrefs disease marker"]));
    assert_ok(&output, "search with missing references");
    assert_eq!(json_lines(&output)[0]["answered"], true);
    let output = run(env.command().args(["refs", "7"]));
    assert_clear_error(&output, "refs 7", &["no reference 7", "1 to 1"]);
}

/// The same number twice in the References list: the first is kept, with a warning.
#[test]
fn duplicate_reference_numbers() {
    let text = "From Wikipedia, the free encyclopedia\nDuplicate disease\n\n\
         Duplicate disease is cited twice. [1] It is rare. [2]\n\n\
         References\n\n  1. ^ First J (2020). \"First\". A Journal. 1 (1): 1–2.\n  \
         2. ^ Second J (2021). \"Second\". A Journal. 2 (1): 3–4.\n  \
         2. ^ Impostor J (2022). \"Impostor\". A Journal. 3 (1): 5–6.\n";
    let env = Workspace::with_articles(&[("duplicate.txt", text.as_bytes())]);
    let output = run(env.command().arg("index"));
    assert_ok(&output, "index with duplicate numbers");
    assert!(
        stdout(&output).contains("reference 2 appears twice"),
        "{}",
        stdout(&output)
    );
    let output = run(env.command().args(["refs", "--json", "2"]));
    assert_ok(&output, "refs 2");
    assert!(stdout(&output).contains("Second"));
    assert!(!stdout(&output).contains("Impostor"));
}

/// The answers to a few questions: (passage id, best sentence) of the first hit.
fn first_hits(env: &Workspace) -> Vec<(serde_json::Value, serde_json::Value)> {
    let questions = format!(
        "{ANSWERED_QUESTION}\nvenipuncture\nwhat are the types of calcinosis cutis\nreference 15\n"
    );
    let output = run(env
        .command()
        .args(["search", "--json", "-"])
        .write_stdin(questions));
    assert_ok(&output, "search");
    json_lines(&output)
        .iter()
        .map(|line| {
            let first = &line["passages"][0];
            (first["id"].clone(), first["best_sentence"].clone())
        })
        .collect()
}

/// "indexed 1 article, 17 passages, 21 references" without the time it took.
fn counts(index_output: &str) -> String {
    let first = index_output.lines().next().unwrap_or_default();
    first.split(" in ").next().unwrap_or_default().to_string()
}

/// CRLF line ends and a byte-order mark change nothing: same passages, same best sentences,
/// same references, and the title has no stray BOM.
#[test]
fn crlf_line_ends_and_bom() {
    let plain = Workspace::with_articles(&[("calcinosis-cutis.txt", seed_text().as_bytes())]);
    let expected = first_hits(&plain);
    assert!(expected.iter().all(|(id, _)| id.is_string()));

    let crlf = seed_text().replace('\n', "\r\n");
    let with_bom = format!("\u{feff}{}", seed_text());
    let both = format!("\u{feff}{crlf}");
    for (what, text) in [("CRLF", crlf), ("BOM", with_bom), ("BOM and CRLF", both)] {
        let env = Workspace::with_articles(&[("calcinosis-cutis.txt", text.as_bytes())]);
        let output = run(env.command().arg("index"));
        assert_ok(&output, what);
        assert_eq!(
            counts(&stdout(&output)),
            counts(&stdout(&run(plain.command().arg("index")))),
            "{what}: same numbers of passages and references"
        );
        assert_eq!(first_hits(&env), expected, "{what}: same answers");
        let output = run(env.command().args(["ask", ANSWERED_QUESTION]));
        assert_ok(&output, what);
        assert!(
            !stdout(&output).contains('\u{feff}') && !stdout(&output).contains('\r'),
            "{what}: no BOM or CR in what is shown"
        );
    }
}

/// An article with a title and nothing else: "no body paragraph", where, and what to check.
#[test]
fn article_without_body() {
    let env = Workspace::with_articles(&[(
        "title-only.txt",
        b"From Wikipedia, the free encyclopedia\nTitle only\n",
    )]);
    let output = run(env.command().arg("index"));
    assert_clear_error(
        &output,
        "index with a title-only article",
        &["title-only.txt", "body"],
    );
}

/// A corpus folder that is missing or holds no article.
#[test]
fn missing_and_empty_corpus() {
    let env = Workspace::empty();
    let output = run(env.command().args(["search", "x"]));
    assert_clear_error(
        &output,
        "empty corpus",
        &["holds no article", "citebot add"],
    );
    std::fs::remove_dir_all(env.corpus_dir()).unwrap_or_else(|e| panic!("{e}"));
    let output = run(env.command().args(["search", "x"]));
    assert_clear_error(&output, "missing corpus", &["not found", "corpus_dir"]);
}

/// A config file with a mistake: which file, which line, what is wrong.
#[test]
fn bad_config_file() {
    let env = Workspace::with_seed_corpus();
    for (extra, mention) in [
        ("[search]\ntop = 0\n", "search.top"),
        ("[search]\ntpo = 3\n", "tpo"),
        ("corpus_dir = [\n", "config.toml"),
        ("\u{0}", "config.toml"),
    ] {
        env.write_config(extra);
        let output = run(env.command().args(["search", "x"]));
        assert_clear_error(&output, &format!("config {extra:?}"), &[mention]);
    }
    let output = run(common::citebot_command().args([
        "--config",
        "/nonexistent/citebot.toml",
        "search",
        "x",
    ]));
    assert_clear_error(&output, "missing config", &["/nonexistent/citebot.toml"]);
}

/// Strange but valid articles: only headings, one 300 KB line with no sentence end, a line
/// of markers, deeply repeated headings. Indexed and searchable, no panic.
#[test]
fn strange_but_valid_articles() {
    let long_line = format!("Longline {}", "word ".repeat(60_000));
    let only_markers = format!(
        "Markers\n\n{}\n\nReferences\n\n  1. ^ X (2020). \"Y\".\n",
        "[1] ".repeat(2000)
    );
    let headings = format!(
        "Headings\n\nIntro paragraph about headings.\n\n{}",
        (0..500)
            .map(|i| format!("Heading {i}\n\nText {i} here.\n\n"))
            .collect::<String>()
    );
    let env = Workspace::with_articles(&[
        (
            "long-line.txt",
            format!("Long line\n\n{long_line}\n").as_bytes(),
        ),
        ("markers.txt", only_markers.as_bytes()),
        ("headings.txt", headings.as_bytes()),
    ]);
    let output = run(env.command().arg("index"));
    assert_ok(&output, "index strange articles");
    for question in ["word", "heading 250 text", "markers"] {
        let output = run(env.command().args(["search", "--json", question]));
        assert_ok(&output, question);
        assert_eq!(json_lines(&output).len(), 1);
    }
}
