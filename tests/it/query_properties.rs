//! Properties of the query path, for any question up to the size limit (and past it): no
//! panic, valid JSON from `SearchResponse::from_answer` that keeps its own promises, and a
//! bounded time (measured and printed; only a generous ceiling is asserted, since debug builds
//! on a shared 2-core machine vary a lot).

use citebot_test_support as common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use citebot_core::Engine;
use citebot_presentation::json::SearchResponse;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use common::{shared_seed_env, ANSWERED_QUESTION};

/// The question length citebot searches (`search.max_question_chars`); longer ones are cut.
const SIZE_LIMIT_CHARS: usize = 2000;

/// No single question may take longer than this, even in a debug build on a busy machine.
const CEILING: Duration = Duration::from_secs(10);

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::open(&shared_seed_env().config())
            .unwrap_or_else(|error| panic!("the engine must open: {error}"))
    })
}

/// Asks, checks every promise of the answer and its JSON, returns the time taken.
fn check_question(question: &str, top: usize) -> Result<Duration, TestCaseError> {
    let started = Instant::now();
    let answer = engine().ask(question, top);
    let took = started.elapsed();

    prop_assert!(answer.hits.len() <= top, "at most top={top} hits");
    prop_assert_eq!(
        answer.answered(),
        !answer.hits.is_empty(),
        "hits only with an answer"
    );
    for hit in &answer.hits {
        prop_assert!(hit.score.is_finite(), "finite score: {}", hit.score);
        prop_assert!(!hit.passage.text.trim().is_empty(), "no empty passage");
        for &index in &hit.best_sentences {
            prop_assert!(
                index < hit.passage.sentences.len(),
                "best sentence in range"
            );
        }
        if let Some(sentence) = hit.best_sentence() {
            prop_assert!(hit.passage.text.contains(sentence));
        }
    }

    let response = SearchResponse::from_answer(&answer);
    let json = serde_json::to_string(&response)
        .map_err(|e| TestCaseError::fail(format!("cannot serialise: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("not valid JSON ({e}): {json}")))?;
    prop_assert_eq!(
        value["query"].as_str(),
        Some(question),
        "query echoed exactly"
    );
    let answered = value["answered"].as_bool();
    prop_assert_eq!(answered, Some(answer.answered()));
    let passages = value["passages"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(passages.len(), answer.hits.len());
    for passage in &passages {
        prop_assert!(
            passage["score"].is_number(),
            "score is a number: {}",
            passage
        );
        prop_assert!(passage["id"].is_string() && passage["text"].is_string());
        prop_assert!(passage["refs"].is_array());
    }
    if answered == Some(false) {
        let reason = value["reason"].as_str().unwrap_or_default();
        // The reasons are a growing list (no_searchable_words, no_match, weak_evidence,
        // not_in_article…): one snake_case word for programs to branch on.
        prop_assert!(
            !reason.is_empty() && reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "an abstention has a reason: {}",
            value
        );
    }
    Ok(took)
}

/// Words of the seed article, chat noise and query syntax, to make questions that reach the
/// ranking rather than stopping at "no words".
const WORDS: &[&str] = &[
    "calcinosis",
    "cutis",
    "diltiazem",
    "venipuncture",
    "treatment",
    "treated",
    "cause",
    "causes",
    "calcium",
    "phosphate",
    "skin",
    "nodules",
    "lesions",
    "sclerosis",
    "systemic",
    "dermatomyositis",
    "journal",
    "reference",
    "ref",
    "15",
    "[3]",
    "pmid",
    "doi",
    "author",
    "what",
    "is",
    "the",
    "how",
    "why",
    "can",
    "does",
    "it",
    "?",
    "!",
    "\"",
    ":",
    "*",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    "\\",
    "+",
    "-",
    "^2",
    "~",
    "title:",
    "text:x",
    "@everyone",
    "@here",
    "<@123>",
    "<@&456>",
    "<#789>",
    "<:emoji:1>",
    "```",
    "**",
    "||",
    "https://x.y/z",
    "😀",
    "🩺",
    "\u{200b}",
    "\u{202e}",
    "\u{feff}",
    "\u{0}",
    "\u{1b}[31m",
    "calcinossis",
    "diltiazm",
    "kalcinosis",
    "lump",
    "lumps",
    "kidney",
    "renal",
    "SSc",
    "CREST",
    "iv",
];

fn word_questions() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(WORDS).prop_map(str::to_string),
            1 => "\\PC{1,12}",
        ],
        0..120,
    )
    .prop_map(|words| words.join(" "))
}

fn any_questions() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,300}",
        prop::collection::vec(any::<char>(), 0..SIZE_LIMIT_CHARS + 100)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
        "\\PC{1900,2100}",
    ]
}

struct Timing {
    cases: usize,
    total: Duration,
    slowest: Duration,
    slowest_question_chars: usize,
}

fn run_property(name: &str, cases: u32, strategy: impl Strategy<Value = (String, usize)>) {
    let config = ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let timing = std::sync::Mutex::new(Timing {
        cases: 0,
        total: Duration::ZERO,
        slowest: Duration::ZERO,
        slowest_question_chars: 0,
    });
    let result = runner.run(&strategy, |(question, top)| {
        let took = check_question(&question, top)?;
        if let Ok(mut timing) = timing.lock() {
            timing.cases += 1;
            timing.total += took;
            if took > timing.slowest {
                timing.slowest = took;
                timing.slowest_question_chars = question.chars().count();
            }
        }
        prop_assert!(took < CEILING, "took {:?}", took);
        Ok(())
    });
    if let Ok(timing) = timing.lock() {
        eprintln!(
            "{name}: {} questions, mean {:?}, slowest {:?} ({} chars)",
            timing.cases,
            timing.total / timing.cases.max(1) as u32,
            timing.slowest,
            timing.slowest_question_chars
        );
    }
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
}

#[test]
fn any_string_up_to_the_size_limit() {
    run_property(
        "any string",
        256,
        (any_questions(), 1usize..=10).prop_map(|(q, top)| (q, top)),
    );
}

#[test]
fn questions_made_of_article_words_syntax_and_chat_noise() {
    run_property(
        "word questions",
        256,
        (word_questions(), 1usize..=10).prop_map(|(q, top)| (q, top)),
    );
}

/// Far past the size limit: cut to its beginning, still answered, time measured.
#[test]
fn questions_past_the_size_limit() {
    let question = format!("{ANSWERED_QUESTION} ").repeat(20_000);
    for length in [
        SIZE_LIMIT_CHARS - 1,
        SIZE_LIMIT_CHARS,
        SIZE_LIMIT_CHARS + 1,
        100_000,
        question.len(),
    ] {
        let cut: String = question.chars().take(length).collect();
        let took = check_question(&cut, 5).unwrap_or_else(|e| panic!("{length} chars: {e}"));
        eprintln!("{length} chars: {took:?}");
        assert!(engine().ask(&cut, 5).answered(), "{length} chars answered");
    }
    // Multi-byte characters right at the cut.
    for filler in ["é", "😀", "\u{200b}", "👩‍⚕️"] {
        let question = format!("diltiazem {}", filler.repeat(SIZE_LIMIT_CHARS));
        check_question(&question, 3).unwrap_or_else(|e| panic!("{filler:?}: {e}"));
    }
}

/// The most work one question can ask for: as many distinct unknown long words as are
/// searched (`search.max_query_terms`, 48), each sent to spelling correction (a Levenshtein
/// automaton of distance 2 over the term dictionary).
#[test]
fn worst_case_spelling_corrections() {
    let words: Vec<String> = (0..200)
        .map(|i| {
            let letters: String = format!("{i:04}")
                .chars()
                .map(|digit| char::from(b'k' + digit.to_digit(10).unwrap_or(0) as u8))
                .collect();
            format!("calcinoxis{letters}")
        })
        .collect();
    let question = words.join(" ");
    let took = check_question(&question, 10).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("200 unknown long words: {took:?}");
    assert!(took < CEILING);
}
