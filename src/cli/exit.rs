//! The exit statuses of `citebot`, one table for the binary, `--help`, the README and
//! deploy/citebot@.service: a supervisor (systemd's `Restart=` and `RestartPreventExitStatus=`)
//! and a script read them, so each means one thing.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | answered, or done |
//! | 1 | `ask` found no answer in the articles; `refresh --check` found an article out of date |
//! | 2 | an error that running again will not fix: configuration, usage (clap's own errors exit 2 too), input, files |
//! | 75 | a transient failure (`EX_TEMPFAIL` of sysexits.h): the listen port is busy, the feedback database or the network is not reachable yet, a timeout; try again later |
//!
//! The class of an error comes from its type ([`ErrorClass`], carried by the library's error
//! types), never from its message.

use super::Outcome;
use citebot_core::error::ErrorClass;

/// Answered, or done.
pub const SUCCESS: u8 = 0;
/// `ask` found no answer; `refresh --check` found an article out of date.
pub const NOT_FOUND: u8 = 1;
/// An error that running again will not fix (the status clap gives usage errors, and the one
/// deploy/citebot@.service names in `RestartPreventExitStatus=`).
pub const ERROR: u8 = 2;
/// A failure that may pass by itself (`EX_TEMPFAIL` in sysexits.h): systemd restarts it.
pub const TEMPORARY_FAILURE: u8 = 75;

/// The table for `citebot --help`.
pub const HELP: &str = "Exit status: 0 answered (or done), 1 the article has no answer (refresh --check: an article is out of date), 2 an error running again will not fix (configuration, usage, input), 75 a temporary failure worth retrying (the port is busy, the database or the network is not reachable yet).";

/// The status for a command's outcome.
pub fn status_of_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Done => SUCCESS,
        Outcome::NoAnswer | Outcome::OutOfDate => NOT_FOUND,
    }
}

/// The status for an error: [`TEMPORARY_FAILURE`] when its class is transient, else [`ERROR`].
pub fn status_of_error(error: &anyhow::Error) -> u8 {
    match class_of(error) {
        ErrorClass::Transient => TEMPORARY_FAILURE,
        ErrorClass::Permanent => ERROR,
    }
}

/// The class of an error: that of the outermost error in its chain whose type carries one
/// (the one with the most context; each delegates to what it wraps where that decides),
/// else permanent.
pub fn class_of(error: &anyhow::Error) -> ErrorClass {
    error
        .chain()
        .find_map(class_of_cause)
        .unwrap_or(ErrorClass::Permanent)
}

fn class_of_cause(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    if let Some(error) = cause.downcast_ref::<citebot_core::Error>() {
        return Some(error.class());
    }
    if let Some(error) = cause.downcast_ref::<citebot_http::ServeError>() {
        return Some(error.class());
    }
    if let Some(error) = cause.downcast_ref::<citebot_discord::BotError>() {
        return Some(error.class());
    }
    if let Some(error) = cause.downcast_ref::<citebot_discord::feedback::FeedbackError>() {
        return Some(error.class());
    }
    if let Some(error) = cause.downcast_ref::<citebot_wikipedia::fetch::AddError>() {
        return Some(error.class());
    }
    if let Some(error) = cause.downcast_ref::<citebot_wikipedia::client::FetchError>() {
        return Some(error.class());
    }
    cause
        .downcast_ref::<std::io::Error>()
        .map(ErrorClass::of_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transient_cause_exits_75_however_it_was_wrapped() {
        let busy = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let error = anyhow::Error::from(busy).context("starting the server");
        assert_eq!(status_of_error(&error), TEMPORARY_FAILURE);
    }

    #[test]
    fn a_library_error_or_a_plain_message_exits_2() {
        let error = anyhow::Error::from(citebot_core::Error::Config {
            path: "config.toml".into(),
            message: "line 1: bad".into(),
        });
        assert_eq!(status_of_error(&error), ERROR);
        assert_eq!(status_of_error(&anyhow::anyhow!("--listen: bad")), ERROR);
    }

    /// The outermost classified error decides: a library error that wraps an I/O error keeps
    /// its own class, whatever the I/O error's kind.
    #[test]
    fn the_outermost_classified_error_decides() {
        let error = anyhow::Error::from(citebot_core::Error::IndexNotWritable {
            path: "index".into(),
            source: std::io::Error::from(std::io::ErrorKind::TimedOut),
        });
        assert_eq!(status_of_error(&error), ERROR);
    }

    #[test]
    fn a_busy_port_is_transient_a_forbidden_one_is_not() {
        let bind = |kind| citebot_http::ServeError::Bind {
            addr: ([127, 0, 0, 1], 80).into(),
            source: std::io::Error::from(kind),
        };
        let busy = anyhow::Error::from(bind(std::io::ErrorKind::AddrInUse));
        assert_eq!(status_of_error(&busy), TEMPORARY_FAILURE);
        let forbidden = anyhow::Error::from(bind(std::io::ErrorKind::PermissionDenied));
        assert_eq!(status_of_error(&forbidden), ERROR);
    }
}
