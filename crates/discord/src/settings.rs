//! The `[discord]` section of `config.toml`: everything the bot needs besides the engine.
//!
//! Every field has a default, so an empty (or missing) section runs the bot against the real
//! Discord with the token from `DISCORD_TOKEN`. Unknown keys are rejected, so a typo in the
//! config fails at start-up instead of being silently ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use super::api_base::DEFAULT_API_BASE;

/// Environment variable that overrides [`DiscordSettings::api_base`] (used to point the bot at
/// a fake Discord in tests, or at an HTTP proxy).
pub const API_BASE_ENV: &str = "CITEBOT_DISCORD_API_BASE";

/// Environment variable that overrides [`DiscordSettings::feedback_db`]: a replica started by a
/// service manager can be pointed at the shared PostgreSQL without editing the config file.
pub const FEEDBACK_DB_ENV: &str = "CITEBOT_FEEDBACK_DB";

/// Settings of the Discord bot (`[discord]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordSettings {
    /// Name of the environment variable holding the bot token. The token itself never goes in
    /// the config file.
    pub token_env: String,
    /// A file holding the bot token (a Docker or systemd secret), read instead of `token_env`
    /// when set. Relative to this config file's folder.
    pub token_file: Option<PathBuf>,
    /// Origin of the Discord API (scheme, host and optional port, no path). Overridden by the
    /// `CITEBOT_DISCORD_API_BASE` environment variable.
    pub api_base: String,
    /// Register the slash commands in this guild only (instant, good for testing); `None`
    /// registers them globally (all servers and DMs).
    pub guild_id: Option<u64>,
    /// Channels where the bot answers mentions and commands; empty means everywhere it is
    /// mentioned or invoked. Threads count as their parent channel. DMs are always answered.
    pub allowed_channels: Vec<u64>,
    /// Answer each mention question in a new thread started from the question, and open a
    /// thread on each `/ask` answer.
    pub thread_per_question: bool,
    /// Minimum time between two questions from the same user; 0 disables the cooldown.
    pub cooldown_seconds: f64,
    /// Phrases that make a question read as an emergency (matched case-insensitively on word
    /// boundaries); such a question gets the "seek urgent care" notice before the answer.
    pub emergency_phrases: Vec<String>,
    /// How often to check whether `citebot index` rebuilt the index on disk.
    pub reload_interval_seconds: f64,
    /// Where 👍/👎 feedback is stored: an SQLite file, or a PostgreSQL URL shared by replicas
    /// (which then keep the per-user cooldowns there too). Overridden by `CITEBOT_FEEDBACK_DB`.
    pub feedback_db: FeedbackLocation,
    /// Passages shown per answer when the question does not say (`/ask top:` overrides it, 1–5).
    pub top: usize,
    /// "More passages" stops after this many passages in total.
    pub max_passages: usize,
    /// A slash command whose answer is not ready after this long is deferred ("citebot is
    /// thinking…") and edited when ready; Discord drops interactions not acknowledged in 3 s.
    pub defer_after_ms: u64,
    /// The application's public key (hex, Developer Portal → General Information), which
    /// `citebot serve` checks Discord's interaction signatures against. Public, so it may live
    /// here; the environment variable `DISCORD_PUBLIC_KEY` wins when set.
    pub public_key: Option<String>,
    /// Gateway shards in all (across every process of the bot); `None` takes Discord's
    /// recommended count and runs them all in this process (autosharding).
    pub shard_count: Option<u32>,
    /// The shards this process runs, first and last (inclusive) of `shard_count`, so the
    /// shards of a large bot can be split across processes; `None` runs all of them.
    pub shards: Option<[u32; 2]>,
}

/// Which gateway shards this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardPlan {
    /// As many as Discord recommends, all here.
    Auto,
    /// Shards `first..=last` of `total`.
    Range { first: u32, last: u32, total: u32 },
}

impl Default for DiscordSettings {
    fn default() -> Self {
        DiscordSettings {
            token_env: "DISCORD_TOKEN".to_string(),
            token_file: None,
            api_base: DEFAULT_API_BASE.to_string(),
            guild_id: None,
            allowed_channels: Vec::new(),
            thread_per_question: false,
            cooldown_seconds: 10.0,
            emergency_phrases: citebot_presentation::notices::default_emergency_phrases(),
            reload_interval_seconds: 2.0,
            feedback_db: FeedbackLocation::Sqlite(PathBuf::from("citebot-feedback.sqlite3")),
            top: 1,
            max_passages: 10,
            defer_after_ms: 1500,
            public_key: None,
            shard_count: None,
            shards: None,
        }
    }
}

/// Where the feedback store lives: `discord.feedback_db`, `CITEBOT_FEEDBACK_DB` or
/// `citebot feedback --db`. A value starting with `postgres://` or `postgresql://` is a
/// PostgreSQL connection URL; anything else is the path of an SQLite file.
///
/// ```
/// use citebot_discord::settings::FeedbackLocation;
/// let shared: FeedbackLocation = "postgres://citebot@db.internal/citebot".parse().unwrap();
/// assert!(shared.is_postgres());
/// // Passwords go in PGPASSWORD, never in a URL that sits in config.toml.
/// assert!("postgres://citebot:hunter2@db/citebot".parse::<FeedbackLocation>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackLocation {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL that holds no password, so it can be shown in messages and
/// logs as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Why a feedback location was refused. The value itself is never repeated: it may hold a
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackLocationError {
    #[error("the PostgreSQL URL holds a password, and secrets never go in config.toml or on a command line: remove it from the URL and export PGPASSWORD=<password> for the bot and `citebot feedback`")]
    PasswordInUrl,
    #[error(
        "not a valid PostgreSQL URL ({reason}): write it as postgres://USER@HOST:PORT/DATABASE"
    )]
    BadUrl { reason: String },
    #[error("empty: give an SQLite file or a postgres:// URL")]
    Empty,
}

impl FeedbackLocation {
    pub fn is_postgres(&self) -> bool {
        matches!(self, FeedbackLocation::Postgres(_))
    }
}

impl std::fmt::Display for FeedbackLocation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedbackLocation::Sqlite(path) => write!(formatter, "{}", path.display()),
            FeedbackLocation::Postgres(url) => write!(formatter, "{url}"),
        }
    }
}

impl std::str::FromStr for FeedbackLocation {
    type Err = FeedbackLocationError;

    fn from_str(value: &str) -> Result<FeedbackLocation, FeedbackLocationError> {
        if value.is_empty() {
            return Err(FeedbackLocationError::Empty);
        }
        let is_url = ["postgres://", "postgresql://"].iter().any(|scheme| {
            value
                .get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
        });
        if !is_url {
            return Ok(FeedbackLocation::Sqlite(PathBuf::from(value)));
        }
        // The url crate reads the user-info and query of any scheme; the PostgreSQL client
        // accepts a password in either place (`user:pw@host`, `?password=pw`).
        let parsed = url::Url::parse(value).map_err(|error| FeedbackLocationError::BadUrl {
            reason: error.to_string(),
        })?;
        let password_in_query = parsed
            .query_pairs()
            .any(|(key, _)| key.eq_ignore_ascii_case("password"));
        if parsed.password().is_some() || password_in_query {
            return Err(FeedbackLocationError::PasswordInUrl);
        }
        Ok(FeedbackLocation::Postgres(PostgresUrl(value.to_string())))
    }
}

impl From<PathBuf> for FeedbackLocation {
    fn from(path: PathBuf) -> FeedbackLocation {
        FeedbackLocation::Sqlite(path)
    }
}

impl From<&Path> for FeedbackLocation {
    fn from(path: &Path) -> FeedbackLocation {
        FeedbackLocation::Sqlite(path.to_path_buf())
    }
}

impl<'de> Deserialize<'de> for FeedbackLocation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The key is named here because the config loader shows only this message (never the
        // line itself, which may hold the password).
        text.parse()
            .map_err(|error| serde::de::Error::custom(format!("discord.feedback_db: {error}")))
    }
}

/// The API origin from the config value and the environment override: the override wins when set
/// and not blank; surrounding blanks and trailing slashes are dropped.
pub fn resolve_api_base(configured: &str, env_override: Option<&str>) -> String {
    let chosen = env_override
        .filter(|value| !value.trim().is_empty())
        .unwrap_or(configured);
    chosen.trim().trim_end_matches('/').to_string()
}

impl DiscordSettings {
    /// The API origin to use: the `CITEBOT_DISCORD_API_BASE` environment variable when set
    /// and not empty, else `api_base`; without a trailing slash.
    pub fn effective_api_base(&self) -> String {
        resolve_api_base(&self.api_base, std::env::var(API_BASE_ENV).ok().as_deref())
    }

    /// Where feedback goes: the `CITEBOT_FEEDBACK_DB` environment variable when set and not
    /// blank (a relative path there is relative to the working folder, as for any command
    /// line), else `feedback_db`.
    pub fn effective_feedback_db(&self) -> Result<FeedbackLocation, FeedbackLocationError> {
        match std::env::var(FEEDBACK_DB_ENV) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse(),
            _ => Ok(self.feedback_db.clone()),
        }
    }

    /// Makes a relative `feedback_db` relative to the config file's folder.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        if let FeedbackLocation::Sqlite(path) = &mut self.feedback_db {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        if let Some(file) = self.token_file.as_mut().filter(|file| file.is_relative()) {
            *file = base.join(&*file);
        }
    }

    /// Checks values serde cannot: the error is a one-line message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        // A token pasted here by mistake must be refused without being repeated anywhere.
        let is_variable_name = !self.token_env.is_empty()
            && self.token_env.len() <= 64
            && self
                .token_env
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !self.token_env.starts_with(|c: char| c.is_ascii_digit());
        if !is_variable_name {
            return Err("discord.token_env must be the NAME of an environment variable (like DISCORD_TOKEN: capitals, digits, underscores), not the token itself; put the token in that variable".to_string());
        }
        if !(1..=5).contains(&self.top) {
            return Err(format!(
                "discord.top = {} must be between 1 and 5",
                self.top
            ));
        }
        if self.max_passages < self.top {
            return Err("discord.max_passages must be at least discord.top".to_string());
        }
        if self.defer_after_ms > 2500 {
            return Err(format!(
                "discord.defer_after_ms = {} must be at most 2500 (Discord drops interactions not acknowledged within 3 s)",
                self.defer_after_ms
            ));
        }
        self.shard_plan()?;
        super::api_base::ApiBase::parse(&self.api_base)
            .map(|_| ())
            .map_err(|error| format!("discord.api_base: {error}"))
    }

    /// The shards to run, from `shard_count` and `shards`; the error names what is wrong.
    pub fn shard_plan(&self) -> Result<ShardPlan, String> {
        match (self.shard_count, self.shards) {
            (None, None) => Ok(ShardPlan::Auto),
            (None, Some(_)) => Err("discord.shards needs discord.shard_count (the shards in all, across every process)".to_string()),
            (Some(0), _) => Err("discord.shard_count must be at least 1".to_string()),
            (Some(total), None) => Ok(ShardPlan::Range { first: 0, last: total - 1, total }),
            (Some(total), Some([first, last])) => {
                if first > last || last >= total {
                    Err(format!(
                        "discord.shards = [{first}, {last}] must be a first and last shard (inclusive) with first <= last < shard_count ({total})"
                    ))
                } else {
                    Ok(ShardPlan::Range { first, last, total })
                }
            }
        }
    }

    /// The cooldown as a duration; zero when disabled (negative values count as disabled).
    pub fn cooldown(&self) -> Duration {
        Duration::try_from_secs_f64(self.cooldown_seconds).unwrap_or(Duration::ZERO)
    }

    /// The reload interval; at least 100 ms so a zero in the config cannot spin a core.
    pub fn reload_interval(&self) -> Duration {
        Duration::try_from_secs_f64(self.reload_interval_seconds)
            .unwrap_or(Duration::from_secs(2))
            .max(Duration::from_millis(100))
    }

    /// Passages per answer, clamped to what `/ask top:` accepts.
    pub fn default_top(&self) -> usize {
        self.top.clamp(1, 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_defaults() {
        let settings: DiscordSettings = toml::from_str("").unwrap();
        assert_eq!(settings, DiscordSettings::default());
        assert_eq!(settings.token_env, "DISCORD_TOKEN");
        assert_eq!(settings.api_base, "https://discord.com");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = toml::from_str::<DiscordSettings>("tokne_env = \"X\"").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn integers_are_accepted_for_seconds() {
        let settings: DiscordSettings =
            toml::from_str("cooldown_seconds = 3\nreload_interval_seconds = 1").unwrap();
        assert_eq!(settings.cooldown(), Duration::from_secs(3));
        assert_eq!(settings.reload_interval(), Duration::from_secs(1));
    }

    #[test]
    fn environment_overrides_api_base() {
        assert_eq!(
            resolve_api_base("https://discord.com", Some("http://127.0.0.1:8123/")),
            "http://127.0.0.1:8123"
        );
        assert_eq!(
            resolve_api_base("https://discord.com/", Some("  ")),
            "https://discord.com"
        );
        assert_eq!(
            resolve_api_base("https://discord.com", None),
            "https://discord.com"
        );
    }

    #[test]
    fn relative_feedback_db_follows_the_config_file() {
        let mut settings = DiscordSettings::default();
        settings.resolve_relative_to(Path::new("/etc/citebot"));
        assert_eq!(
            settings.feedback_db,
            FeedbackLocation::from(Path::new("/etc/citebot/citebot-feedback.sqlite3"))
        );
        let mut shared: DiscordSettings =
            toml::from_str("feedback_db = \"postgresql://citebot@db:5433/feedback\"").unwrap();
        shared.resolve_relative_to(Path::new("/etc/citebot"));
        assert_eq!(
            shared.feedback_db.to_string(),
            "postgresql://citebot@db:5433/feedback"
        );
    }

    #[test]
    fn feedback_db_is_a_path_or_a_url_without_password() {
        let location: FeedbackLocation = "data/feedback.sqlite3".parse().unwrap();
        assert_eq!(
            location,
            FeedbackLocation::from(Path::new("data/feedback.sqlite3"))
        );
        let url: FeedbackLocation = "POSTGRES://citebot@127.0.0.1/citebot".parse().unwrap();
        assert!(url.is_postgres());
        for with_password in [
            "postgres://citebot:hunter2@db/citebot",
            "postgresql://db/citebot?user=citebot&password=hunter2",
        ] {
            let error =
                toml::from_str::<DiscordSettings>(&format!("feedback_db = \"{with_password}\""))
                    .map_err(|error| error.message().to_string())
                    .and_then(|settings| settings.validate())
                    .unwrap_err();
            assert!(error.contains("PGPASSWORD"), "{error}");
            assert!(error.contains("feedback_db"), "{error}");
            assert!(
                !error.contains("hunter2"),
                "the password is never repeated: {error}"
            );
        }
        let error = "postgres://db:notaport/x"
            .parse::<FeedbackLocation>()
            .unwrap_err();
        assert!(
            matches!(error, FeedbackLocationError::BadUrl { .. }),
            "{error}"
        );
    }

    #[test]
    fn repository_config_shows_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let section = table
            .get("discord")
            .cloned()
            .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        let settings: DiscordSettings = section.try_into().unwrap();
        settings.validate().unwrap();
        assert_eq!(settings, DiscordSettings::default());
    }

    #[test]
    fn shard_plans_are_checked() {
        let plan = |text: &str| {
            toml::from_str::<DiscordSettings>(text)
                .unwrap()
                .shard_plan()
        };
        assert_eq!(plan(""), Ok(ShardPlan::Auto));
        assert_eq!(
            plan("shard_count = 4"),
            Ok(ShardPlan::Range {
                first: 0,
                last: 3,
                total: 4
            })
        );
        assert_eq!(
            plan("shard_count = 4\nshards = [2, 3]"),
            Ok(ShardPlan::Range {
                first: 2,
                last: 3,
                total: 4
            })
        );
        for bad in [
            "shards = [0, 1]",
            "shard_count = 0",
            "shard_count = 4\nshards = [3, 4]",
            "shard_count = 4\nshards = [2, 1]",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn negative_cooldown_means_none() {
        let settings = DiscordSettings {
            cooldown_seconds: -1.0,
            ..DiscordSettings::default()
        };
        assert_eq!(settings.cooldown(), Duration::ZERO);
    }
}
