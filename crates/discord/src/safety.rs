//! What keeps the bot safe to run in a medical community: Discord markdown escaping, mention
//! neutralising, per-user cooldowns (the emergency check is citebot-presentation's, shared by
//! every surface). No serenity types: these are plain text
//! and time functions, tested on their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Escapes Discord markdown so article or user text shows as written: `*`, `_`, `~`, `` ` ``,
/// `|`, `\`, `[`, `]` and `<` anywhere (emphasis, spoilers, code, masked links, mentions,
/// timestamps), and `#`, `>`, `-`, `+`, `1.` at the start of a line (headings, quotes, lists).
/// Mentions are also neutralised (see [`neutralise_mentions`]).
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body_start = line.len() - line.trim_start_matches([' ', '\t']).len();
        let (indent, body) = line.split_at(body_start);
        out.push_str(indent);
        let starts_block = body.starts_with(['#', '>', '-', '+']);
        let ordered_item = body
            .find(|c: char| !c.is_ascii_digit())
            .filter(|&digits| digits > 0 && body[digits..].starts_with(". "));
        for (index, ch) in body.char_indices() {
            let is_inline = matches!(ch, '*' | '_' | '~' | '`' | '|' | '\\' | '[' | ']' | '<');
            if is_inline || (index == 0 && starts_block) || Some(index) == ordered_item {
                out.push('\\');
            }
            out.push(ch);
        }
    }
    neutralise_mentions(&out)
}

/// Breaks `@everyone` and `@here` with a zero-width space so they never read as mass mentions,
/// even where `allowed_mentions` is not in force (a copy-paste of the text, a client bug).
pub fn neutralise_mentions(text: &str) -> String {
    text.replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here")
}

/// The question in a message that mentions the bot: the mention itself removed, blanks trimmed.
pub fn strip_bot_mention(content: &str, bot_id: u64) -> String {
    content
        .replace(&format!("<@{bot_id}>"), " ")
        .replace(&format!("<@!{bot_id}>"), " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the text has no letter or digit at all (an empty mention, emoji only).
pub fn is_blank_question(question: &str) -> bool {
    !question.chars().any(char::is_alphanumeric)
}

/// Per-user cooldowns between questions. Entries older than the cooldown are pruned as new ones
/// arrive, so memory stays bounded by the number of users active within one period.
#[derive(Debug)]
pub struct Cooldowns {
    period: Duration,
    users: Mutex<HashMap<u64, UserCooldown>>,
}

#[derive(Debug, Clone, Copy)]
struct UserCooldown {
    /// When the user's last accepted question came.
    accepted_at: Instant,
    /// Whether the bot already said "please wait" since then.
    refused: bool,
}

/// The outcome of a cooldown check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownCheck {
    /// Go ahead; the question was recorded.
    Ready,
    /// Too soon: wait this long. `first_refusal` is true for the first refusal in this period,
    /// so the bot can say so once instead of answering every spammed message.
    Wait {
        remaining: Duration,
        first_refusal: bool,
    },
}

impl Cooldowns {
    pub fn new(period: Duration) -> Cooldowns {
        Cooldowns {
            period,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Records a question by `user` at `now` unless it comes too soon after the previous one.
    pub fn check(&self, user: u64, now: Instant) -> CooldownCheck {
        if self.period.is_zero() {
            return CooldownCheck::Ready;
        }
        // The map holds no invariant a panicking holder could break, so a poisoned lock is usable.
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let period = self.period;
        if users.len() > 1024 {
            users.retain(|_, entry| now.saturating_duration_since(entry.accepted_at) < period);
        }
        if let Some(entry) = users.get_mut(&user) {
            let elapsed = now.saturating_duration_since(entry.accepted_at);
            if elapsed < period {
                let first_refusal = !entry.refused;
                entry.refused = true;
                return CooldownCheck::Wait {
                    remaining: period - elapsed,
                    first_refusal,
                };
            }
        }
        users.insert(
            user,
            UserCooldown {
                accepted_at: now,
                refused: false,
            },
        );
        CooldownCheck::Ready
    }
}

/// "3 s", "1 min 5 s": a short human duration, rounded up to whole seconds.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped() {
        assert_eq!(
            escape_markdown("**bold** _it_ ~~x~~ `c` ||s|| [1](http://x) a\\b"),
            "\\*\\*bold\\*\\* \\_it\\_ \\~\\~x\\~\\~ \\`c\\` \\|\\|s\\|\\| \\[1\\](http://x) a\\\\b"
        );
        assert_eq!(
            escape_markdown("# h\n> q\n- l\n  12. n\nx - y"),
            "\\# h\n\\> q\n\\- l\n  12\\. n\nx - y"
        );
    }

    #[test]
    fn mentions_are_neutralised() {
        let escaped = escape_markdown("hey @everyone and @here, <@123> <#5> <@&7>");
        assert!(!escaped.contains("@everyone"));
        assert!(!escaped.contains("@here"));
        assert!(!escaped.replace("\\<", "").contains('<'), "{escaped}");
        assert!(escaped.contains("@\u{200B}everyone"));
    }

    #[test]
    fn bot_mention_is_stripped() {
        assert_eq!(
            strip_bot_mention("<@1000> how is it   treated?", 1000),
            "how is it treated?"
        );
        assert_eq!(
            strip_bot_mention("so <@!1000>, causes?", 1000),
            "so , causes?"
        );
        assert_eq!(strip_bot_mention("<@1000>", 1000), "");
        assert!(is_blank_question("🙂 ?"));
        assert!(!is_blank_question("why?"));
    }

    #[test]
    fn cooldown_refuses_once_then_quietly() {
        let cooldowns = Cooldowns::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(cooldowns.check(7, start), CooldownCheck::Ready);
        assert_eq!(
            cooldowns.check(7, start + Duration::from_secs(3)),
            CooldownCheck::Wait {
                remaining: Duration::from_secs(7),
                first_refusal: true
            }
        );
        assert!(matches!(
            cooldowns.check(7, start + Duration::from_secs(4)),
            CooldownCheck::Wait {
                first_refusal: false,
                ..
            }
        ));
        assert_eq!(cooldowns.check(8, start), CooldownCheck::Ready);
        assert_eq!(
            cooldowns.check(7, start + Duration::from_secs(10)),
            CooldownCheck::Ready
        );
    }

    #[test]
    fn zero_cooldown_never_refuses() {
        let cooldowns = Cooldowns::new(Duration::ZERO);
        let now = Instant::now();
        assert_eq!(cooldowns.check(1, now), CooldownCheck::Ready);
        assert_eq!(cooldowns.check(1, now), CooldownCheck::Ready);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(2100)), "3 s");
        assert_eq!(human_duration(Duration::from_secs(60)), "1 min");
        assert_eq!(human_duration(Duration::from_secs(65)), "1 min 5 s");
    }
}
