//! The feedback store in PostgreSQL, shared by every replica of the bot (and `citebot serve`):
//! the same `meta` and `votes` tables as the SQLite file, plus `cooldowns`, so that a person's
//! cooldown holds whichever replica their next question reaches.
//!
//! The client is the synchronous `postgres` crate: it blocks like rusqlite, so the store keeps
//! one blocking API for both backends and async code calls it from `spawn_blocking` as before.
//! One connection per store, behind a mutex (a vote or a cooldown check is one short
//! statement); a connection that dropped is opened again on the next call.
//!
//! The client reads neither `PGPASSWORD` nor a password file by itself, so the password comes
//! from `PGPASSWORD` here; the URL never holds one (see [`FeedbackLocation`]).
//!
//! [`FeedbackLocation`]: crate::settings::FeedbackLocation

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::{FeedbackError, StoredVote, Vote};
use crate::safety::CooldownCheck;
use crate::settings::PostgresUrl;
use citebot_core::error::ErrorClass;

/// The environment variable the password is read from, as libpq and psql do.
pub const PASSWORD_ENV: &str = "PGPASSWORD";

/// How long a connection attempt may take before the store reports the database unreachable.
/// A URL's own `connect_timeout` wins.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Any number, the same in every replica: schema creation holds this advisory lock, because
/// two `CREATE TABLE IF NOT EXISTS` at once race in PostgreSQL (one fails on a unique index of
/// the catalogue).
const SCHEMA_LOCK: i64 = 0x0063_6974_6562_6f74; // "citebot" in ASCII

/// The schema version kept in `meta`, as `PRAGMA user_version` is in SQLite.
const SCHEMA_VERSION: &str = "1";

/// The SQLite schema in PostgreSQL's types. `voted_at` is the same UTC text as in SQLite, so
/// `citebot feedback` prints the same for both.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ask_key    TEXT NOT NULL,
    user_hash  TEXT NOT NULL,
    question   TEXT NOT NULL,
    answer_ids TEXT NOT NULL,
    answered   BOOLEAN NOT NULL,
    vote       SMALLINT NOT NULL CHECK (vote IN (-1, 1)),
    voted_at   TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    UNIQUE (ask_key, user_hash)
);
-- One row per person who asked recently. `refusals` counts the "please wait" answers since
-- the last accepted question, capped at 2: only the first refusal is said out loud.
CREATE TABLE IF NOT EXISTS cooldowns (
    user_hash   TEXT PRIMARY KEY,
    accepted_at TIMESTAMPTZ NOT NULL,
    refusals    SMALLINT NOT NULL
);
"#;

/// One atomic statement per question, on the database's clock (`now()`, the statement's
/// start), so replicas on machines whose clocks differ still agree. A question more than one
/// period after the last accepted one is accepted (refusals back to 0); any other is refused
/// and counted. `$2` is the period in seconds.
const COOLDOWN_CHECK: &str = "
INSERT INTO cooldowns AS c (user_hash, accepted_at, refusals)
VALUES ($1, now(), 0)
ON CONFLICT (user_hash) DO UPDATE SET
    accepted_at = CASE WHEN c.accepted_at <= now() - make_interval(secs => $2)
                       THEN now() ELSE c.accepted_at END,
    refusals    = CASE WHEN c.accepted_at <= now() - make_interval(secs => $2)
                       THEN 0 ELSE LEAST(c.refusals + 1, 2) END
RETURNING refusals,
          EXTRACT(EPOCH FROM c.accepted_at + make_interval(secs => $2) - now())::float8";

/// Cooldown rows older than a period say nothing; they are removed every this many checks so
/// the table stays about as large as the number of people asking within one period.
const PRUNE_EVERY: u64 = 1024;

/// Whether a call may run again on a new connection when the one it used had dropped: only
/// for work that does the same when done twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    OnceIfDropped,
    Never,
}

/// A connection to the shared feedback database.
pub struct PostgresStore {
    url: PostgresUrl,
    config: postgres::Config,
    client: Mutex<Option<Client>>,
    cooldown_checks: AtomicU64,
}

impl PostgresStore {
    /// Connects (once now, so an unreachable database is reported at start-up).
    pub fn connect(url: &PostgresUrl) -> Result<PostgresStore, FeedbackError> {
        let mut config: postgres::Config =
            url.as_str()
                .parse()
                .map_err(|error| FeedbackError::PostgresUrl {
                    url: url.clone(),
                    reason: error_chain(&error),
                })?;
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var(PASSWORD_ENV) {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("citebot");
        let store = PostgresStore {
            url: url.clone(),
            config,
            client: Mutex::new(None),
            cooldown_checks: AtomicU64::new(0),
        };
        store.with_client(Retry::Never, |_| Ok(()))?;
        Ok(store)
    }

    /// The URL, for messages (it holds no password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// Runs `work` on the connection, opening it first when there is none. When the
    /// connection turns out to have dropped (a database restart, a network cut, an idle
    /// connection ended by a proxy), it is forgotten so the next call opens a new one; with
    /// [`Retry::OnceIfDropped`], this call does so at once and runs `work` again.
    fn with_client<T>(
        &self,
        retry: Retry,
        mut work: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, FeedbackError> {
        // A client whose holder panicked is still a client (or is replaced below).
        let mut guard = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.as_ref().is_some_and(Client::is_closed) {
            *guard = None;
        }
        let mut reused = guard.is_some();
        loop {
            let client = match &mut *guard {
                Some(client) => client,
                empty => empty.insert(self.open_connection()?),
            };
            let error = match work(client) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let dropped = connection_lost(&error) || client.is_closed();
            if dropped {
                *guard = None;
            }
            if !(dropped && reused && retry == Retry::OnceIfDropped) {
                return Err(self.error(&error));
            }
            tracing::info!(url = %self.url, error = %error_chain(&error), "feedback database connection lost, reconnecting");
            reused = false;
        }
    }

    fn open_connection(&self) -> Result<Client, FeedbackError> {
        self.config
            .connect(NoTls)
            .map_err(|error| FeedbackError::PostgresConnect {
                url: self.url.clone(),
                reason: error_chain(&error),
                class: connect_class(&error),
            })
    }

    fn error(&self, error: &postgres::Error) -> FeedbackError {
        FeedbackError::Postgres {
            url: self.url.clone(),
            reason: error_chain(error),
        }
    }

    /// Creates the tables when missing and returns the salt, making it when the database has
    /// none. Safe when several replicas start at once: they take turns on an advisory lock,
    /// and the first one's salt is the one every replica reads.
    pub fn create_schema(&self, new_salt: &str) -> Result<String, FeedbackError> {
        self.with_client(Retry::OnceIfDropped, |client| {
            let mut transaction = client.transaction()?;
            // Released at commit (or rollback, if anything below fails).
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            transaction.batch_execute(SCHEMA)?;
            transaction.execute(
                "INSERT INTO meta (key, value) VALUES ('user_salt', $1) ON CONFLICT (key) DO NOTHING",
                &[&new_salt],
            )?;
            transaction.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING",
                &[&SCHEMA_VERSION],
            )?;
            let salt: String = transaction
                .query_one("SELECT value FROM meta WHERE key = 'user_salt'", &[])?
                .get(0);
            transaction.commit()?;
            Ok(salt)
        })
    }

    /// The stored salt, for reading an existing database; `Ok(None)` when the database has no
    /// citebot tables (nothing was ever stored there).
    pub fn existing_salt(&self) -> Result<Option<String>, FeedbackError> {
        self.with_client(Retry::OnceIfDropped, |client| {
            let has_tables: bool = client
                .query_one(
                    "SELECT to_regclass('meta') IS NOT NULL AND to_regclass('votes') IS NOT NULL",
                    &[],
                )?
                .get(0);
            if !has_tables {
                return Ok(None);
            }
            let salt = client
                .query_opt("SELECT value FROM meta WHERE key = 'user_salt'", &[])?
                .map(|row| row.get::<_, String>(0))
                .unwrap_or_default();
            Ok(Some(salt))
        })
    }

    /// Stores a vote, replacing the same person's earlier vote on the same answer.
    /// `answer_ids` is the JSON array stored for `vote.answer_ids`.
    pub fn record(
        &self,
        vote: &Vote,
        user_hash: &str,
        answer_ids: &str,
    ) -> Result<(), FeedbackError> {
        let value: i16 = if vote.up { 1 } else { -1 };
        // Storing the same vote twice leaves one row: safe to retry.
        self.with_client(Retry::OnceIfDropped, |client| {
            client.execute(
                "INSERT INTO votes (ask_key, user_hash, question, answer_ids, answered, vote)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (ask_key, user_hash) DO UPDATE SET
                     vote = excluded.vote,
                     voted_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                &[
                    &vote.ask_key,
                    &user_hash,
                    &vote.question,
                    &answer_ids,
                    &vote.answered,
                    &value,
                ],
            )?;
            Ok(())
        })
    }

    /// Every vote, oldest first.
    pub fn votes(&self) -> Result<Vec<StoredVote>, FeedbackError> {
        self.with_client(Retry::OnceIfDropped, |client| {
            let rows = client.query(
                "SELECT id, ask_key, user_hash, question, answer_ids, answered, vote, voted_at
                 FROM votes ORDER BY id",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| StoredVote {
                    id: row.get(0),
                    ask_key: row.get(1),
                    user_hash: row.get(2),
                    question: row.get(3),
                    answer_ids: serde_json::from_str(row.get(4)).unwrap_or_default(),
                    answered: row.get(5),
                    up: row.get::<_, i16>(6) > 0,
                    voted_at: row.get(7),
                })
                .collect())
        })
    }

    /// Records a question by the person hashed as `user_hash` unless it comes less than
    /// `period` after their last accepted one (in any replica).
    pub fn check_cooldown(
        &self,
        user_hash: &str,
        period: Duration,
    ) -> Result<CooldownCheck, FeedbackError> {
        let seconds = period.as_secs_f64();
        let checks = self.cooldown_checks.fetch_add(1, Ordering::Relaxed);
        // Not retried: the statement may have counted before the connection dropped, and a
        // failed check lets the question through anyway (see `BotState::check_cooldown`).
        self.with_client(Retry::Never, |client| {
            if checks % PRUNE_EVERY == PRUNE_EVERY - 1 {
                client.execute(
                    "DELETE FROM cooldowns WHERE accepted_at < now() - make_interval(secs => $1)",
                    &[&seconds],
                )?;
            }
            let row = client.query_one(COOLDOWN_CHECK, &[&user_hash, &seconds])?;
            let refusals: i16 = row.get(0);
            let remaining_seconds: f64 = row.get(1);
            if refusals == 0 {
                return Ok(CooldownCheck::Ready);
            }
            // Another replica's question may have started a hair after this statement's
            // clock: never ask anyone to wait longer than one period.
            let remaining = Duration::try_from_secs_f64(remaining_seconds.clamp(0.0, seconds))
                .unwrap_or(period);
            Ok(CooldownCheck::Wait {
                remaining,
                first_refusal: refusals == 1,
            })
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The synchronous client runs its own small tokio runtime, and dropping one inside an
        // async task panics: when the store is dropped there (the bot's shared state at
        // shutdown), the client goes to a plain thread to be closed.
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(client) = client {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            }
        }
    }
}

/// Whether an error means the connection is gone, rather than one statement failing: an I/O
/// or protocol error, or a fatal one from the server (`pg_terminate_backend`, a shutdown).
fn connection_lost(error: &postgres::Error) -> bool {
    match error.as_db_error() {
        Some(db_error) => matches!(db_error.severity(), "FATAL" | "PANIC"),
        None => true,
    }
}

/// Whether a failed connection may succeed later: a server that is not up yet (nothing
/// listening, no socket file yet, a timeout), starting up or shutting down, or out of
/// connections may pass; a refused password or a database that does not exist will not.
fn connect_class(error: &postgres::Error) -> ErrorClass {
    use postgres::error::SqlState;
    if let Some(db_error) = error.as_db_error() {
        let code = db_error.code();
        return if [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
        ]
        .contains(code)
        {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
    }
    if error.is_closed() {
        return ErrorClass::Transient;
    }
    match std::error::Error::source(error).and_then(|cause| cause.downcast_ref::<std::io::Error>())
    {
        // The server's Unix socket is not there while it is not running.
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => ErrorClass::Transient,
        Some(io) => ErrorClass::of_io(io),
        None => ErrorClass::Permanent,
    }
}

/// An error and its causes on one line: the client's own message is only the kind ("error
/// connecting to server"), the cause says which ("Connection refused (os error 111)").
fn error_chain(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
