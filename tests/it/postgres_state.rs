//! State shared by replicas: the feedback store and the cooldowns in one real PostgreSQL on
//! loopback, reached by several stores at once as several replicas of the bot would.

use citebot_test_support::postgres;

use std::process::Output;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use citebot_discord::feedback::{FeedbackStore, Vote};
use citebot_discord::safety::CooldownCheck;
use citebot_discord::settings::FeedbackLocation;
use postgres::PgServer;

fn location(url: &str) -> FeedbackLocation {
    url.parse()
        .unwrap_or_else(|error| panic!("{url} is a valid location: {error}"))
}

fn vote(ask: &str, user: u64, question: &str, answered: bool, up: bool) -> Vote {
    Vote {
        ask_key: ask.to_string(),
        user_id: user,
        question: question.to_string(),
        answer_ids: vec!["calcinosis-cutis#p20".to_string()],
        answered,
        up,
    }
}

/// Opens `count` stores on `url` at the same moment, from as many threads, so the schema is
/// created by replicas racing each other.
fn open_replicas(url: &str, count: usize) -> Vec<Arc<FeedbackStore>> {
    let start = Arc::new(Barrier::new(count));
    let openers: Vec<_> = (0..count)
        .map(|_| {
            let start = Arc::clone(&start);
            let location = location(url);
            std::thread::spawn(move || {
                start.wait();
                FeedbackStore::open(&location)
            })
        })
        .collect();
    openers
        .into_iter()
        .map(|opener| {
            let store = opener
                .join()
                .expect("the opening thread does not panic")
                .unwrap_or_else(|error| panic!("a replica opens the shared store: {error}"));
            Arc::new(store)
        })
        .collect()
}

/// The real binary, with nothing from the environment choosing the feedback database.
fn citebot() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("citebot").expect("the citebot binary");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CITEBOT_FEEDBACK_DB")
        .env_remove("PGPASSWORD");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} fails: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn two_replicas_write_votes_concurrently_into_one_database() {
    let server = PgServer::start();
    let replicas = open_replicas(&server.url(), 4);
    // Every replica read the one salt the first of them stored.
    let first_hash = replicas[0].hash_user(4242);
    for replica in &replicas {
        assert_eq!(replica.hash_user(4242), first_hash);
    }
    assert_eq!(
        server.psql("SELECT count(*) FROM meta WHERE key = 'user_salt'"),
        "1"
    );

    let (first, second) = (&replicas[0], &replicas[1]);
    const PER_WRITER: u64 = 50;
    let writers: Vec<_> = [first, second, first, second]
        .into_iter()
        .enumerate()
        .map(|(writer, store)| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for n in 0..PER_WRITER {
                    let ask = format!("{writer}-{n}");
                    // Everyone votes on each answer as person 7 too: one hash across replicas.
                    store
                        .record(&vote(&ask, 7, &format!("question {ask}"), true, n % 2 == 0))
                        .unwrap_or_else(|error| panic!("vote {ask}: {error}"));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer does not panic");
    }

    let votes = first.votes().expect("votes can be read");
    assert_eq!(votes.len() as u64, 4 * PER_WRITER, "every vote is there");
    assert_eq!(second.votes().expect("votes can be read"), votes);
    let hash_of_7 = first.hash_user(7);
    assert!(votes.iter().all(|stored| stored.user_hash == hash_of_7));
    assert!(votes.iter().all(|stored| stored.voted_at.ends_with('Z')));

    // A second vote by the same person on the same answer replaces the first, whichever
    // replica takes it.
    second
        .record(&vote("0-0", 7, "question 0-0", true, false))
        .expect("a replaced vote");
    let votes = first.votes().expect("votes can be read");
    assert_eq!(votes.len() as u64, 4 * PER_WRITER);
    let replaced = votes
        .iter()
        .find(|stored| stored.ask_key == "0-0")
        .expect("the vote on 0-0");
    assert!(!replaced.up, "the later vote wins");
}

#[test]
fn feedback_command_prints_the_same_for_postgresql_and_sqlite() {
    let server = PgServer::start();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let sqlite_path = folder.path().join("feedback.sqlite3");
    let locations = [
        location(&server.url()),
        FeedbackLocation::from(sqlite_path.clone()),
    ];
    for location in &locations {
        let store = FeedbackStore::open(location).expect("a new store");
        for (ask, user, question, answered, up) in [
            ("1", 1, "Is it contagious?", true, false),
            ("1", 2, "is it  contagious?", true, false),
            ("2", 1, "what causes it", true, true),
            ("3", 3, "does laser help", false, false),
            ("3", 3, "does laser help", false, true),
            ("4", 2, "does laser help", false, false),
        ] {
            store
                .record(&vote(ask, user, question, answered, up))
                .expect("a vote");
        }
    }

    let run = |db: &str| {
        let output = citebot()
            .args(["feedback", "--db", db, "--export", "-"])
            .output()
            .expect("citebot runs");
        assert_success(&output, &format!("citebot feedback --db {db}"))
    };
    let from_postgres = run(&server.url());
    let from_sqlite = run(sqlite_path.to_str().expect("a UTF-8 temporary path"));
    assert!(
        from_postgres.starts_with(&format!("feedback in {}\n", server.url())),
        "{from_postgres}"
    );
    assert!(
        from_postgres.contains("5 votes: 2 up, 3 down, from 3 people on 3 questions"),
        "{from_postgres}"
    );
    // The same apart from where the votes are and the seconds they were cast in; export ids
    // may differ too (PostgreSQL spends an id on a replaced vote, SQLite does not).
    let comparable = |printed: &str| {
        let timestamps = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("a regex");
        let qids = regex::Regex::new(r#""qid":"fb\d+""#).expect("a regex");
        let body = printed.split_once('\n').map_or("", |(_, rest)| rest);
        qids.replace_all(&timestamps.replace_all(body, "TIME"), "QID")
            .into_owned()
    };
    assert_eq!(comparable(&from_postgres), comparable(&from_sqlite));
    assert!(
        from_postgres.contains(r#""query":"does laser help""#),
        "{from_postgres}"
    );
}

#[test]
fn a_cooldown_started_on_one_replica_holds_on_the_other() {
    let server = PgServer::start();
    let replicas = open_replicas(&server.url(), 2);
    let (first, second) = (&replicas[0], &replicas[1]);
    let period = Duration::from_secs(60);

    assert_eq!(
        first.check_cooldown(7, period).unwrap(),
        CooldownCheck::Ready
    );
    let refused = second.check_cooldown(7, period).unwrap();
    let CooldownCheck::Wait {
        remaining,
        first_refusal,
    } = refused
    else {
        panic!("the other replica refuses a question within the cooldown: {refused:?}");
    };
    assert!(first_refusal, "the first refusal is said out loud");
    assert!(
        remaining > Duration::from_secs(30) && remaining <= period,
        "{remaining:?} left of {period:?}"
    );
    for store in [first, second, first] {
        assert!(
            matches!(
                store.check_cooldown(7, period).unwrap(),
                CooldownCheck::Wait {
                    first_refusal: false,
                    ..
                }
            ),
            "later refusals are quiet, on every replica"
        );
    }
    assert_eq!(
        second.check_cooldown(8, period).unwrap(),
        CooldownCheck::Ready,
        "another person is not held back"
    );
    assert_eq!(
        first.check_cooldown(7, Duration::ZERO).unwrap(),
        CooldownCheck::Ready,
        "no cooldown configured, no refusal"
    );

    // After the period (on the database's clock) the person is ready again, and a new
    // refusal is the first of the new period.
    let short = Duration::from_millis(300);
    assert_eq!(
        first.check_cooldown(9, short).unwrap(),
        CooldownCheck::Ready
    );
    assert!(matches!(
        second.check_cooldown(9, short).unwrap(),
        CooldownCheck::Wait {
            first_refusal: true,
            ..
        }
    ));
    std::thread::sleep(short * 2);
    assert_eq!(
        second.check_cooldown(9, short).unwrap(),
        CooldownCheck::Ready
    );
    assert!(matches!(
        first.check_cooldown(9, short).unwrap(),
        CooldownCheck::Wait {
            first_refusal: true,
            ..
        }
    ));
    // Cooldowns are kept by hashed id, like votes.
    assert_eq!(
        server.psql("SELECT count(*) FROM cooldowns WHERE user_hash ~ '^[0-9a-f]{32}$'"),
        "3"
    );
}

#[test]
fn a_dropped_connection_is_opened_again() {
    let server = PgServer::start();
    let store = FeedbackStore::open(&location(&server.url())).expect("a store");
    store
        .record(&vote("1", 1, "what causes it", true, true))
        .expect("a vote");
    server.drop_connections();
    // Votes are stored again on a new connection at once.
    store
        .record(&vote("2", 1, "is it rare", true, true))
        .expect("a vote after the connection dropped");
    assert_eq!(store.votes().expect("votes").len(), 2);

    // A cooldown check is not repeated (it may have counted): it may fail once, and the
    // next one works on a new connection.
    server.drop_connections();
    let _maybe_failed = store.check_cooldown(1, Duration::from_secs(10));
    assert!(store.check_cooldown(2, Duration::from_secs(10)).is_ok());
}

#[test]
fn a_password_in_the_url_is_refused_with_the_way_to_give_it() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config = folder.path().join("config.toml");
    std::fs::write(
        &config,
        "[discord]\nfeedback_db = \"postgres://citebot:hunter2@127.0.0.1:5432/citebot\"\n",
    )
    .expect("a config file");
    let in_config = citebot()
        .arg("--config")
        .arg(&config)
        .arg("feedback")
        .output()
        .expect("citebot runs");
    let on_command_line = citebot()
        .args([
            "feedback",
            "--db",
            "postgresql://127.0.0.1/citebot?user=citebot&password=hunter2",
        ])
        .output()
        .expect("citebot runs");
    let in_environment = citebot()
        .env(
            "CITEBOT_FEEDBACK_DB",
            "postgres://citebot:hunter2@db/citebot",
        )
        .args(["feedback"])
        .output()
        .expect("citebot runs");
    for (output, place) in [
        (in_config, "discord.feedback_db"),
        (on_command_line, "--db"),
        (in_environment, "CITEBOT_FEEDBACK_DB"),
    ] {
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{place}: refused");
        assert!(
            stderr.contains(place),
            "{place}: the error names where: {stderr}"
        );
        assert!(
            stderr.contains("PGPASSWORD"),
            "{place}: says what to do: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "{place}: never repeats the password: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{place}: {stderr}");
    }
}

#[test]
fn an_unreachable_postgresql_is_a_clear_error_naming_the_host() {
    let port = postgres::free_port();
    let url = format!("postgres://citebot@127.0.0.1:{port}/citebot");
    let output = citebot()
        .env("PGPASSWORD", "hunter2")
        .args(["feedback", "--db", &url])
        .output()
        .expect("citebot runs");
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to the feedback database {url}")),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "says why: {stderr}");
    assert!(
        stderr.contains("is PostgreSQL running"),
        "says what to check: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // The library says the same to the bot at start-up.
    let error = match FeedbackStore::open(&location(&url)) {
        Ok(_) => panic!("nothing listens on port {port}"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[test]
fn feedback_on_a_database_without_votes_says_so() {
    let server = PgServer::start();
    let output = citebot()
        .args(["feedback", "--db", &server.url()])
        .output()
        .expect("citebot runs");
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no feedback tables in the PostgreSQL database"),
        "{stderr}"
    );
    // It only reads: nothing was created.
    assert_eq!(server.psql("SELECT to_regclass('votes') IS NULL"), "t");
}
