//! Rebuild while serving: one `Engine` answers thousands of questions from several threads
//! while `index::rebuild` runs again and again and the engine reloads (as the Discord bot does
//! on its reload interval). Not one answer may fail or come back empty, and a rebuilt index
//! (with an article added, then removed) is picked up without a restart.

use citebot_test_support as common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use citebot_core::index::{self, RebuildOptions};
use citebot_core::Engine;
use common::{
    copy_tree, second_article, shared_seed_env, Workspace, ANSWERED_QUESTION,
    SECOND_ARTICLE_QUESTION,
};

/// Questions the seed article answers.
const SEED_QUESTIONS: &[&str] = &[
    ANSWERED_QUESTION,
    "venipuncture",
    "What are the types of calcinosis cutis?",
    "Where are lesions found in systemic sclerosis?",
    "colchicine",
];

const READERS: usize = 3;
const REBUILDS: usize = 12;
const MIN_QUESTIONS: usize = 4000;

/// Whether the answer to `question` comes from the article `slug`.
fn answered_from(engine: &Engine, question: &str, slug: &str) -> bool {
    let answer = engine.ask(question, 3);
    answer.answered()
        && answer
            .hits
            .first()
            .is_some_and(|hit| hit.passage.article == slug)
}

#[test]
fn thousands_of_questions_while_the_index_is_rebuilt() {
    let env = Workspace::with_seed_corpus();
    copy_tree(&shared_seed_env().index_dir(), &env.index_dir());
    // What is checked is that generations switch under readers, not the meaning step: without
    // it a question costs microseconds instead of milliseconds, so thousands fit the deadline
    // on a loaded 2-core machine.
    let mut config = env.config();
    config.meaning.enabled = false;
    let engine = Engine::open(&config).unwrap_or_else(|e| panic!("the engine must open: {e}"));
    for question in SEED_QUESTIONS {
        assert!(
            engine.ask(question, 3).answered(),
            "{question:?} is answered"
        );
    }
    assert!(!answered_from(
        &engine,
        SECOND_ARTICLE_QUESTION,
        "zorblax-fever"
    ));

    let stop = AtomicBool::new(false);
    let second_is_live = AtomicBool::new(false);
    let asked = AtomicUsize::new(0);
    let reload_switches = AtomicUsize::new(0);
    let reload_errors = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let mut rebuilds = 0;

    std::thread::scope(|scope| {
        for reader in 0..READERS {
            let (engine, stop, asked, failures, second_is_live) =
                (&engine, &stop, &asked, &failures, &second_is_live);
            scope.spawn(move || {
                let mut turn = reader;
                while !stop.load(Ordering::Relaxed) {
                    turn += 1;
                    let question = SEED_QUESTIONS[turn % SEED_QUESTIONS.len()];
                    let answer = engine.ask(question, 3);
                    let empty = answer
                        .hits
                        .iter()
                        .any(|hit| hit.passage.text.trim().is_empty());
                    if !answer.answered() || answer.hits.is_empty() || empty {
                        if let Ok(mut failures) = failures.lock() {
                            failures.push(format!("{question:?}: {:?}", answer.verdict));
                        }
                    }
                    // Once the added article is live, every generation after it has it too.
                    if second_is_live.load(Ordering::Acquire)
                        && !answered_from(engine, SECOND_ARTICLE_QUESTION, "zorblax-fever")
                    {
                        if let Ok(mut failures) = failures.lock() {
                            failures.push("the added article was lost".to_string());
                        }
                    }
                    asked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The bot's reload loop, racing the rebuilds below.
        {
            let (engine, stop, reload_switches, reload_errors) =
                (&engine, &stop, &reload_switches, &reload_errors);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match engine.reload_if_changed() {
                        Ok(true) => {
                            reload_switches.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        // A generation replaced while it was being opened: keep serving.
                        Err(_) => {
                            reload_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }

        let deadline = Duration::from_secs(90);
        while (rebuilds < REBUILDS || asked.load(Ordering::Relaxed) < MIN_QUESTIONS)
            && started.elapsed() < deadline
        {
            if rebuilds == 2 {
                env.write_article("zorblax-fever.txt", second_article().as_bytes());
            }
            if let Err(error) = index::rebuild(&config, RebuildOptions::default()) {
                stop.store(true, Ordering::Relaxed);
                panic!("rebuild {rebuilds} failed: {error}");
            }
            rebuilds += 1;
            // Reload here too, so the check below sees this generation.
            let _ = engine.reload_if_changed();
            if rebuilds == 3 {
                assert!(
                    answered_from(&engine, SECOND_ARTICLE_QUESTION, "zorblax-fever"),
                    "the added article is answered after a rebuild, without a restart"
                );
                second_is_live.store(true, Ordering::Release);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });

    let asked = asked.load(Ordering::Relaxed);
    let failures = failures.into_inner().unwrap_or_default();
    eprintln!(
        "rebuild while serving: {asked} questions from {READERS} threads in {:?}, {rebuilds} \
         rebuilds, {} reloads switched, {} reload attempts failed (engine kept serving)",
        started.elapsed(),
        reload_switches.load(Ordering::Relaxed),
        reload_errors.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{} of {asked} answers failed or were empty, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        asked >= MIN_QUESTIONS,
        "only {asked} questions were asked in time"
    );
    assert!(rebuilds >= REBUILDS);

    // Removing the article is picked up too.
    std::fs::remove_file(env.corpus_dir().join("zorblax-fever.txt"))
        .unwrap_or_else(|e| panic!("{e}"));
    index::rebuild(&config, RebuildOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(engine.reload_if_changed(), Ok(true)));
    assert!(!answered_from(
        &engine,
        SECOND_ARTICLE_QUESTION,
        "zorblax-fever"
    ));
    assert!(engine.ask(ANSWERED_QUESTION, 3).answered());
}

/// A new generation that is damaged when the engine tries to switch to it: the reload fails
/// with a clear error and the engine keeps answering from the generation it has.
#[test]
fn damaged_new_generation_is_not_switched_to() {
    let env = Workspace::with_seed_corpus();
    copy_tree(&shared_seed_env().index_dir(), &env.index_dir());
    let config = env.config();
    let engine = Engine::open(&config).unwrap_or_else(|e| panic!("{e}"));

    // A copy of the live generation, missing tantivy's meta.json, made live by hand.
    let live = env.live_generation();
    let damaged_name = "gen-9999999999999999-1";
    copy_tree(&live, &env.index_dir().join(damaged_name));
    std::fs::remove_file(env.index_dir().join(damaged_name).join("meta.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(env.index_dir().join("CURRENT"), damaged_name).unwrap_or_else(|e| panic!("{e}"));

    let error = match engine.reload_if_changed() {
        Ok(switched) => {
            panic!("a damaged generation must not be switched to (switched: {switched})")
        }
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("citebot index"),
        "the error says what to do: {error}"
    );
    assert!(engine.ask(ANSWERED_QUESTION, 3).answered(), "still serving");

    // The next rebuild repairs it and the engine switches.
    index::rebuild(&config, RebuildOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(engine.reload_if_changed(), Ok(true)));
    assert!(engine.ask(ANSWERED_QUESTION, 3).answered());
}
