//! 👍/👎 feedback, kept in SQLite or in a PostgreSQL database shared by replicas, and
//! `citebot feedback`: a summary, and the down-voted questions exported as eval-set lines so the
//! team can turn them into tests.
//!
//! A vote stores the question, the ids of the passages shown, whether citebot answered, the
//! vote, the time, and the voter's Discord id hashed with a random salt kept in the database:
//! one person's votes can be counted once, but the id cannot be recovered from the file alone.
//! One vote per person per answer: voting again replaces the earlier vote.
//!
//! Both backends have the same tables and behave the same; PostgreSQL ([`postgres_store`])
//! also keeps the per-user cooldowns, so several replicas agree on them.

pub mod postgres_store;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::safety::CooldownCheck;
use super::settings::{FeedbackLocation, FeedbackLocationError, PostgresUrl};
use citebot_core::error::ErrorClass;
use postgres_store::PostgresStore;

/// Errors of the feedback store.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("no feedback database at {path}: the bot has not stored a vote yet (or set discord.feedback_db in config.toml)")]
    Missing { path: PathBuf },
    #[error("feedback database {path}: {source} (is it a citebot feedback file? move it away to start a new one)")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no feedback tables in the PostgreSQL database {url}: the bot has not stored a vote there yet (or point discord.feedback_db / CITEBOT_FEEDBACK_DB elsewhere)")]
    PostgresMissing { url: PostgresUrl },
    #[error("cannot connect to the feedback database {url}: {reason} (is PostgreSQL running and reachable there? check discord.feedback_db or CITEBOT_FEEDBACK_DB, and PGPASSWORD)")]
    PostgresConnect {
        url: PostgresUrl,
        reason: String,
        /// Whether the database may be reachable later (not up yet, starting, a timeout).
        class: ErrorClass,
    },
    #[error("feedback database {url}: {reason}")]
    Postgres { url: PostgresUrl, reason: String },
    #[error("feedback database {url} is not a valid PostgreSQL URL: {reason}")]
    PostgresUrl { url: PostgresUrl, reason: String },
    #[error("feedback database: {0}")]
    Location(#[from] FeedbackLocationError),
    #[error("cooldowns are kept in memory with an SQLite feedback file, not in the file")]
    CooldownsNotShared,
    #[error("cannot make a random salt for hashing user ids: {0}")]
    Salt(String),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

impl FeedbackError {
    /// Whether the store may open later: a PostgreSQL server that is not reachable yet, or an
    /// SQLite file another process holds locked, may pass; anything else will not.
    pub fn class(&self) -> ErrorClass {
        match self {
            FeedbackError::PostgresConnect { class, .. } => *class,
            FeedbackError::Sqlite {
                source: rusqlite::Error::SqliteFailure(failure, _),
                ..
            } if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
            {
                ErrorClass::Transient
            }
            FeedbackError::Missing { .. }
            | FeedbackError::Sqlite { .. }
            | FeedbackError::PostgresMissing { .. }
            | FeedbackError::Postgres { .. }
            | FeedbackError::PostgresUrl { .. }
            | FeedbackError::Location(_)
            | FeedbackError::CooldownsNotShared
            | FeedbackError::Salt(_)
            | FeedbackError::Write(_) => ErrorClass::Permanent,
        }
    }
}

/// The schema, versioned with `PRAGMA user_version` so a later change can migrate.
const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    id         INTEGER PRIMARY KEY,
    -- Discord id of the message or interaction that asked: unique across restarts.
    ask_key    TEXT NOT NULL,
    user_hash  TEXT NOT NULL,
    question   TEXT NOT NULL,
    -- JSON array of the passage ids shown, best first.
    answer_ids TEXT NOT NULL,
    answered   INTEGER NOT NULL,
    vote       INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (ask_key, user_hash)
);
";

/// One vote as the bot records it.
#[derive(Debug, Clone)]
pub struct Vote {
    pub ask_key: String,
    pub user_id: u64,
    pub question: String,
    pub answer_ids: Vec<String>,
    pub answered: bool,
    pub up: bool,
}

/// The feedback database. `Send + Sync`; calls block on disk or on the network, so async
/// code runs them in `spawn_blocking`.
pub struct FeedbackStore {
    backend: Backend,
    salt: String,
}

enum Backend {
    Sqlite {
        path: PathBuf,
        connection: Mutex<Connection>,
    },
    // Boxed: the PostgreSQL client is several times the size of the SQLite one.
    Postgres(Box<PostgresStore>),
}

impl FeedbackStore {
    /// Opens the database at `location`, creating it (its tables and its salt) when missing.
    pub fn open(location: &FeedbackLocation) -> Result<FeedbackStore, FeedbackError> {
        match location {
            FeedbackLocation::Sqlite(path) => FeedbackStore::open_sqlite(path),
            FeedbackLocation::Postgres(url) => {
                let store = PostgresStore::connect(url)?;
                let salt = store.create_schema(&new_salt()?)?;
                Ok(FeedbackStore {
                    backend: Backend::Postgres(Box::new(store)),
                    salt,
                })
            }
        }
    }

    fn open_sqlite(path: &Path) -> Result<FeedbackStore, FeedbackError> {
        let sqlite = |source| FeedbackError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let connection = Connection::open(path).map_err(sqlite)?;
        // WAL lets `citebot feedback` read while the bot writes; the timeout rides out the
        // moment a writer holds the lock.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        connection.execute_batch(SCHEMA).map_err(sqlite)?;
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sqlite)?;
        let salt = match read_salt(&connection).map_err(sqlite)? {
            Some(salt) => salt,
            None => {
                let salt = new_salt()?;
                connection
                    .execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('user_salt', ?1)",
                        params![salt],
                    )
                    .map_err(sqlite)?;
                // Another process may have won the race: use whatever is stored.
                read_salt(&connection).map_err(sqlite)?.unwrap_or(salt)
            }
        };
        Ok(FeedbackStore {
            backend: Backend::Sqlite {
                path: path.to_path_buf(),
                connection: Mutex::new(connection),
            },
            salt,
        })
    }

    /// Opens an existing database for reading (`citebot feedback`); never creates one.
    pub fn open_existing(location: &FeedbackLocation) -> Result<FeedbackStore, FeedbackError> {
        let path = match location {
            FeedbackLocation::Sqlite(path) => path,
            FeedbackLocation::Postgres(url) => {
                let store = PostgresStore::connect(url)?;
                let salt = store
                    .existing_salt()?
                    .ok_or_else(|| FeedbackError::PostgresMissing { url: url.clone() })?;
                return Ok(FeedbackStore {
                    backend: Backend::Postgres(Box::new(store)),
                    salt,
                });
            }
        };
        if !path.exists() {
            return Err(FeedbackError::Missing {
                path: path.to_path_buf(),
            });
        }
        let sqlite = |source| FeedbackError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let connection =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        let salt = read_salt(&connection).map_err(sqlite)?.unwrap_or_default();
        Ok(FeedbackStore {
            backend: Backend::Sqlite {
                path: path.to_path_buf(),
                connection: Mutex::new(connection),
            },
            salt,
        })
    }

    /// Whether the store is shared by replicas (PostgreSQL), and so keeps the cooldowns too.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The stored form of a Discord user id: hex SHA-256 of salt and id, shortened to 128 bits.
    pub fn hash_user(&self, user_id: u64) -> String {
        let digest = Sha256::new()
            .chain_update(self.salt.as_bytes())
            .chain_update(user_id.to_string().as_bytes())
            .finalize();
        digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Stores a vote, replacing the same person's earlier vote on the same answer.
    pub fn record(&self, vote: &Vote) -> Result<(), FeedbackError> {
        let answer_ids =
            serde_json::to_string(&vote.answer_ids).unwrap_or_else(|_| "[]".to_string());
        let user_hash = self.hash_user(vote.user_id);
        let (path, connection) = match &self.backend {
            Backend::Postgres(store) => return store.record(vote, &user_hash, &answer_ids),
            Backend::Sqlite { path, connection } => (path, lock(connection)),
        };
        connection
            .execute(
                "INSERT INTO votes (ask_key, user_hash, question, answer_ids, answered, vote)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (ask_key, user_hash) DO UPDATE SET
                     vote = excluded.vote,
                     voted_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                params![
                    vote.ask_key,
                    user_hash,
                    vote.question,
                    answer_ids,
                    vote.answered,
                    if vote.up { 1 } else { -1 },
                ],
            )
            .map_err(|source| sqlite_error(path, source))?;
        Ok(())
    }

    /// Every vote, oldest first.
    pub fn votes(&self) -> Result<Vec<StoredVote>, FeedbackError> {
        let (path, connection) = match &self.backend {
            Backend::Postgres(store) => return store.votes(),
            Backend::Sqlite { path, connection } => (path, lock(connection)),
        };
        let sqlite = |source| sqlite_error(path, source);
        let mut statement = connection
            .prepare(
                "SELECT id, ask_key, user_hash, question, answer_ids, answered, vote, voted_at
                 FROM votes ORDER BY id",
            )
            .map_err(sqlite)?;
        let rows = statement
            .query_map([], |row| {
                let answer_ids: String = row.get(4)?;
                Ok(StoredVote {
                    id: row.get(0)?,
                    ask_key: row.get(1)?,
                    user_hash: row.get(2)?,
                    question: row.get(3)?,
                    answer_ids: serde_json::from_str(&answer_ids).unwrap_or_default(),
                    answered: row.get(5)?,
                    up: row.get::<_, i64>(6)? > 0,
                    voted_at: row.get(7)?,
                })
            })
            .map_err(sqlite)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
    }

    /// A question by `user_id` now, on the shared cooldown: ready, or too soon after their
    /// last accepted question in any replica. Only a shared store keeps cooldowns (see
    /// [`FeedbackStore::is_shared`]); with SQLite they stay in memory
    /// ([`super::safety::Cooldowns`]) and this returns [`FeedbackError::CooldownsNotShared`].
    pub fn check_cooldown(
        &self,
        user_id: u64,
        period: Duration,
    ) -> Result<CooldownCheck, FeedbackError> {
        if period.is_zero() {
            return Ok(CooldownCheck::Ready);
        }
        match &self.backend {
            Backend::Postgres(store) => store.check_cooldown(&self.hash_user(user_id), period),
            Backend::Sqlite { .. } => Err(FeedbackError::CooldownsNotShared),
        }
    }
}

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A connection whose holder panicked is still a valid connection.
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sqlite_error(path: &Path, source: rusqlite::Error) -> FeedbackError {
    FeedbackError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn read_salt(connection: &Connection) -> rusqlite::Result<Option<String>> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'user_salt'",
            [],
            |row| row.get(0),
        )
        .optional()
}

fn new_salt() -> Result<String, FeedbackError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|error| FeedbackError::Salt(error.to_string()))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A vote as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVote {
    pub id: i64,
    pub ask_key: String,
    pub user_hash: String,
    pub question: String,
    pub answer_ids: Vec<String>,
    pub answered: bool,
    pub up: bool,
    /// UTC, `2024-05-01T12:00:00Z`.
    pub voted_at: String,
}

/// The votes on one question (questions that differ only in case and spacing are one).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionVotes {
    /// Id of the first vote on the question: a stable id for exports.
    pub first_id: i64,
    pub question: String,
    pub up: usize,
    pub down: usize,
    /// Whether citebot answered, the last time it was voted on.
    pub answered: bool,
    /// Passages shown the last time it was voted on.
    pub answer_ids: Vec<String>,
}

/// Groups votes by question, in order of first vote.
pub fn by_question(votes: &[StoredVote]) -> Vec<QuestionVotes> {
    let mut groups: BTreeMap<String, QuestionVotes> = BTreeMap::new();
    for vote in votes {
        let key = normalise_question(&vote.question);
        let group = groups.entry(key).or_insert_with(|| QuestionVotes {
            first_id: vote.id,
            question: vote
                .question
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            up: 0,
            down: 0,
            answered: vote.answered,
            answer_ids: Vec::new(),
        });
        if vote.up {
            group.up += 1;
        } else {
            group.down += 1;
        }
        group.answered = vote.answered;
        group.answer_ids = vote.answer_ids.clone();
    }
    let mut questions: Vec<QuestionVotes> = groups.into_values().collect();
    questions.sort_by_key(|question| question.first_id);
    questions
}

fn normalise_question(question: &str) -> String {
    question
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// One line of an eval question set (see the eval README): a down-voted question to triage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalItem {
    pub qid: String,
    pub query: String,
    pub evidence: Vec<String>,
    pub refs: Vec<u32>,
    pub section: String,
    pub kind: String,
    pub note: String,
}

/// The down-voted questions as eval items, most down-voted first.
///
/// The export cannot know the right evidence, so it states a hypothesis the team confirms or
/// fixes: when citebot answered and was voted down, the item says the article does not answer
/// (`kind: "unanswerable"`, which the scorer accepts as is); when citebot said "no answer" and
/// was voted down, it says the article does answer (`kind: "factoid"`, evidence to fill in:
/// the scorer's `--check` flags it until someone does). The note says which, and what was shown.
pub fn downvoted_eval_items(votes: &[StoredVote]) -> Vec<EvalItem> {
    let mut questions: Vec<QuestionVotes> = by_question(votes)
        .into_iter()
        .filter(|question| question.down > 0)
        .collect();
    questions.sort_by(|a, b| b.down.cmp(&a.down).then(a.first_id.cmp(&b.first_id)));
    questions
        .into_iter()
        .map(|question| {
            let tally = format!("down-voted {}×, up-voted {}× on Discord", question.down, question.up);
            let (kind, note) = if question.answered {
                let shown = if question.answer_ids.is_empty() {
                    "nothing".to_string()
                } else {
                    question.answer_ids.join(", ")
                };
                (
                    "unanswerable",
                    format!("{tally}; citebot showed {shown}. Triage: if the article answers this, add 1-3 evidence strings and refs and set kind; if not, keep it unanswerable"),
                )
            } else {
                (
                    "factoid",
                    format!("{tally}; citebot said the article has no answer. Triage: add 1-3 evidence strings and refs, or set kind to unanswerable if the article really does not say"),
                )
            };
            EvalItem {
                qid: format!("fb{:04}", question.first_id),
                query: question.question,
                evidence: Vec::new(),
                refs: Vec::new(),
                section: String::new(),
                kind: kind.to_string(),
                note,
            }
        })
        .collect()
}

/// `citebot feedback`: prints a summary of the votes to `out` (as text, or as one JSON object
/// with `json`); with `export`, also writes the down-voted questions as JSON lines there (`-`
/// for `out` itself, after the summary).
pub fn feedback_command(
    db: &FeedbackLocation,
    export: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), FeedbackError> {
    let store = FeedbackStore::open_existing(db)?;
    let votes = store.votes()?;
    let summary = Summary::of(db, &votes);
    if !json {
        write_text_summary(&summary, out)?;
    }
    let Some(export) = export else {
        if json {
            write_json(&summary, out)?;
        }
        return Ok(());
    };
    let items = downvoted_eval_items(&votes);
    let mut lines = String::new();
    for item in &items {
        lines.push_str(&serde_json::to_string(item).unwrap_or_default());
        lines.push('\n');
    }
    if export == Path::new("-") {
        out.write_all(lines.as_bytes())?;
    } else {
        std::fs::write(export, lines)?;
        if json {
            let summary = Summary {
                exported: Some(Exported {
                    path: export.display().to_string(),
                    questions: items.len(),
                }),
                ..summary
            };
            write_json(&summary, out)?;
        } else {
            writeln!(
                out,
                "\nexported {} down-voted question(s) to {}",
                items.len(),
                export.display()
            )?;
        }
    }
    Ok(())
}

fn write_json(summary: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, summary)?;
    writeln!(out)
}

/// What `citebot feedback` reports, as text or (`--json`) as this object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The database read: an SQLite file or a PostgreSQL URL (never with a password).
    pub database: String,
    pub votes: usize,
    pub up: usize,
    pub down: usize,
    /// Different people who voted (counted by their hashed ids).
    pub people: usize,
    pub questions: usize,
    /// When the first and last votes were cast (UTC, `2024-05-01T12:00:00Z`); null without
    /// votes.
    pub first_vote: Option<String>,
    pub last_vote: Option<String>,
    /// Votes on answers.
    pub answered: Tally,
    /// Votes on "no answer".
    pub no_answer: Tally,
    /// Every question voted down at least once, most down-voted first.
    pub down_voted: Vec<DownVoted>,
    /// Where `--export FILE` wrote the down-voted questions; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exported: Option<Exported>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tally {
    pub up: usize,
    pub down: usize,
}

/// A down-voted question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownVoted {
    /// Its id in `--export`'s lines (`fb0001`).
    pub qid: String,
    pub question: String,
    pub down: usize,
    pub up: usize,
    /// Whether citebot answered, the last time it was voted on.
    pub answered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exported {
    pub path: String,
    pub questions: usize,
}

impl Summary {
    /// The counts over `votes`, read from `db`.
    pub fn of(db: &FeedbackLocation, votes: &[StoredVote]) -> Summary {
        let count =
            |filter: &dyn Fn(&StoredVote) -> bool| votes.iter().filter(|v| filter(v)).count();
        let users: std::collections::BTreeSet<&str> =
            votes.iter().map(|v| v.user_hash.as_str()).collect();
        let questions = by_question(votes);
        let mut down_voted: Vec<&QuestionVotes> = questions.iter().filter(|q| q.down > 0).collect();
        down_voted.sort_by(|a, b| b.down.cmp(&a.down).then(a.first_id.cmp(&b.first_id)));
        Summary {
            database: db.to_string(),
            votes: votes.len(),
            up: count(&|v| v.up),
            down: count(&|v| !v.up),
            people: users.len(),
            questions: questions.len(),
            first_vote: votes.iter().map(|v| v.voted_at.clone()).min(),
            last_vote: votes.iter().map(|v| v.voted_at.clone()).max(),
            answered: Tally {
                up: count(&|v| v.answered && v.up),
                down: count(&|v| v.answered && !v.up),
            },
            no_answer: Tally {
                up: count(&|v| !v.answered && v.up),
                down: count(&|v| !v.answered && !v.up),
            },
            down_voted: down_voted
                .into_iter()
                .map(|question| DownVoted {
                    qid: format!("fb{:04}", question.first_id),
                    question: question.question.clone(),
                    down: question.down,
                    up: question.up,
                    answered: question.answered,
                })
                .collect(),
            exported: None,
        }
    }
}

/// The human summary: totals, by verdict, and the most down-voted questions.
pub fn write_summary(
    db: &FeedbackLocation,
    votes: &[StoredVote],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    write_text_summary(&Summary::of(db, votes), out)
}

fn write_text_summary(summary: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "feedback in {}", summary.database)?;
    if summary.votes == 0 {
        writeln!(out, "no votes yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} votes: {} up, {} down, from {} people on {} questions ({} to {})",
        summary.votes,
        summary.up,
        summary.down,
        summary.people,
        summary.questions,
        summary.first_vote.as_deref().unwrap_or_default(),
        summary.last_vote.as_deref().unwrap_or_default(),
    )?;
    writeln!(
        out,
        "answered:  {} up, {} down",
        summary.answered.up, summary.answered.down
    )?;
    writeln!(
        out,
        "no answer: {} up, {} down",
        summary.no_answer.up, summary.no_answer.down
    )?;
    let downvoted = &summary.down_voted;
    if !downvoted.is_empty() {
        writeln!(out, "\nmost down-voted questions:")?;
        for question in downvoted.iter().take(10) {
            let verdict = if question.answered {
                "answered"
            } else {
                "no answer"
            };
            writeln!(
                out,
                "  {:>3} down {:>3} up  {:<9}  {}",
                question.down, question.up, verdict, question.question
            )?;
        }
        if downvoted.len() > 10 {
            writeln!(
                out,
                "  … and {} more (export them with --export)",
                downvoted.len() - 10
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn votes_are_stored_hashed_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.sqlite3");
        let store = FeedbackStore::open(&path.clone().into()).unwrap();
        store
            .record(&vote("1", 77, "how is it treated?", true, true))
            .unwrap();
        store
            .record(&vote("1", 77, "how is it treated?", true, false))
            .unwrap();
        store
            .record(&vote("1", 78, "how is it treated?", true, true))
            .unwrap();
        let votes = store.votes().unwrap();
        assert_eq!(votes.len(), 2);
        assert!(!votes[0].up, "the second vote replaced the first");
        assert_eq!(votes[0].user_hash.len(), 32);
        // Hashed, not stored: 32 hex digits, and different people get different hashes.
        assert!(votes[0].user_hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(votes[0].user_hash, "77");
        assert_ne!(votes[0].user_hash, votes[1].user_hash);
        assert_eq!(
            votes[0].answer_ids,
            vec!["calcinosis-cutis#p20".to_string()]
        );
        assert!(votes[0].voted_at.ends_with('Z'));
        drop(store);

        // The salt persists, so the same person hashes the same after a restart.
        let reopened = FeedbackStore::open(&path.into()).unwrap();
        assert_eq!(reopened.hash_user(77), votes[0].user_hash);
        let other_db = FeedbackStore::open(&dir.path().join("other.sqlite3").into()).unwrap();
        assert_ne!(other_db.hash_user(77), votes[0].user_hash);
    }

    #[test]
    fn export_states_a_hypothesis_per_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(&dir.path().join("f.sqlite3").into()).unwrap();
        store
            .record(&vote("1", 1, "Is it contagious?", true, false))
            .unwrap();
        store
            .record(&vote("2", 2, "is it  contagious?", true, false))
            .unwrap();
        store
            .record(&vote("3", 1, "what causes it", true, true))
            .unwrap();
        store
            .record(&vote("4", 1, "does laser help", false, false))
            .unwrap();
        let items = downvoted_eval_items(&store.votes().unwrap());
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].query, "Is it contagious?");
        assert_eq!(items[0].kind, "unanswerable");
        assert!(
            items[0].note.starts_with("down-voted 2×"),
            "{}",
            items[0].note
        );
        assert_eq!(items[1].kind, "factoid");
        let line = serde_json::to_string(&items[0]).unwrap();
        assert!(line.starts_with(r#"{"qid":"fb0001","query":"Is it contagious?","evidence":[],"refs":[],"section":"","kind":"unanswerable","note":"#), "{line}");
    }

    /// A feedback file in a temporary folder holding `votes`.
    fn store_with(votes: &[Vote]) -> (tempfile::TempDir, FeedbackLocation) {
        let dir = tempfile::tempdir().unwrap();
        let db = FeedbackLocation::from(dir.path().join("f.sqlite3"));
        let store = FeedbackStore::open(&db).unwrap();
        for vote in votes {
            store.record(vote).unwrap();
        }
        (dir, db)
    }

    #[test]
    fn command_prints_summary_and_exports() {
        let (dir, db) = store_with(&[
            vote("1", 1, "Is it contagious?", true, false),
            vote("2", 2, "what causes it", true, true),
        ]);
        let export = dir.path().join("down.jsonl");
        let mut out = Vec::new();
        feedback_command(&db, Some(&export), false, &mut out).unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.contains("2 votes: 1 up, 1 down, from 2 people on 2 questions"),
            "{printed}"
        );
        assert!(
            printed.contains("exported 1 down-voted question(s)"),
            "{printed}"
        );
        let exported = std::fs::read_to_string(&export).unwrap();
        assert_eq!(exported.lines().count(), 1);
    }

    #[test]
    fn json_summary_holds_the_counts_of_the_text_one() {
        let (dir, db) = store_with(&[
            vote("1", 1, "Is it contagious?", true, false),
            vote("2", 2, "what causes it", false, true),
        ]);
        let mut out = Vec::new();
        feedback_command(&db, None, true, &mut out).unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(printed.lines().count(), 1, "one JSON line: {printed}");
        let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(value["votes"], 2);
        assert_eq!(value["people"], 2);
        assert_eq!(value["answered"], serde_json::json!({"up": 0, "down": 1}));
        assert_eq!(value["no_answer"], serde_json::json!({"up": 1, "down": 0}));
        assert_eq!(value["down_voted"][0]["qid"], "fb0001");
        assert_eq!(value["down_voted"][0]["question"], "Is it contagious?");
        assert!(value.get("exported").is_none());

        let export = dir.path().join("down.jsonl");
        let mut out = Vec::new();
        feedback_command(&db, Some(&export), true, &mut out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["exported"]["questions"], 1);
    }

    #[test]
    fn missing_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = feedback_command(
            &dir.path().join("none.sqlite3").into(),
            None,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("no feedback database at"),
            "{error}"
        );
    }
}
