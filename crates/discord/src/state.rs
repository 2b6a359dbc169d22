//! The bot's shared state: the engine, what it answers from, and the small
//! in-memory logs the bot needs between a question and a button press.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tracing::{info, warn};

use super::feedback::FeedbackStore;
use super::render::{render_answer, AnswerPage, Library, Reply};
use super::safety::{CooldownCheck, Cooldowns};
use super::settings::DiscordSettings;
use super::BotError;
use citebot_core::answer::Answer;
use citebot_core::engine::Engine;
use citebot_presentation::notices::EmergencyDetector;

/// One shared state for every event, command and button, on either surface.
pub type Data = Arc<BotState>;

/// Everything handlers share.
pub struct BotState {
    pub engine: Arc<Engine>,
    pub settings: DiscordSettings,
    library: RwLock<Arc<Library>>,
    /// The per-user cooldowns when the feedback store is not shared; ask through
    /// [`BotState::check_cooldown`], which picks the right place.
    pub cooldowns: Cooldowns,
    pub emergency: EmergencyDetector,
    pub asks: AskLog,
    pub feedback: Arc<FeedbackStore>,
    pub channels: ChannelGate,
    /// Questions and button presses being handled, so shutdown can let them finish.
    pub in_flight: InFlight,
}

impl BotState {
    pub fn new(
        engine: Arc<Engine>,
        settings: DiscordSettings,
        feedback: Arc<FeedbackStore>,
    ) -> BotState {
        let library = build_library(&engine);
        BotState {
            cooldowns: Cooldowns::new(settings.cooldown()),
            emergency: EmergencyDetector::new(&settings.emergency_phrases),
            asks: AskLog::new(ASK_LOG_CAPACITY),
            channels: ChannelGate::new(&settings.allowed_channels),
            in_flight: InFlight::default(),
            library: RwLock::new(Arc::new(library)),
            engine,
            settings,
            feedback,
        }
    }

    /// Records a question by `user` unless it comes within the cooldown of their last one.
    /// With a shared (PostgreSQL) feedback store the cooldown lives there, so every replica
    /// agrees; else in this process's memory. A database error never stops answering: it is
    /// logged and the question goes through.
    pub async fn check_cooldown(&self, user: u64) -> Result<CooldownCheck, BotError> {
        if !self.feedback.is_shared() {
            return Ok(self.cooldowns.check(user, Instant::now()));
        }
        let store = Arc::clone(&self.feedback);
        let period = self.settings.cooldown();
        let checked = tokio::task::spawn_blocking(move || store.check_cooldown(user, period))
            .await
            .map_err(BotError::Task)?;
        Ok(checked.unwrap_or_else(|error| {
            warn!(%error, "shared cooldown check failed, letting the question through");
            CooldownCheck::Ready
        }))
    }

    /// What answers are shown from, as of the last index reload.
    pub fn library(&self) -> Arc<Library> {
        match self.library.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Checks for a rebuilt index and switches to it (blocking: call from `spawn_blocking`).
    /// Returns whether it switched.
    pub fn reload_if_changed(&self) -> bool {
        match self.engine.reload_if_changed() {
            Ok(false) => false,
            Ok(true) => {
                let library = Arc::new(build_library(&self.engine));
                let passages: usize = library.articles.iter().map(|a| a.passages).sum();
                match self.library.write() {
                    Ok(mut guard) => *guard = library,
                    Err(poisoned) => *poisoned.into_inner() = library,
                }
                info!(passages, "index reloaded");
                true
            }
            Err(error) => {
                warn!(%error, "index reload failed, still serving the previous index");
                false
            }
        }
    }

    /// Passages per page: what the question asked for, else the configured default.
    pub fn page_size(&self, requested: Option<u8>) -> usize {
        requested.map_or(self.settings.default_top(), |top| {
            usize::from(top).clamp(1, 5)
        })
    }

    /// Answers `question` for the page `offset..offset + count` and renders it. The engine is
    /// asked for one passage more than shown, to know whether "More passages" has anything.
    pub async fn answer_page(
        &self,
        ask: u64,
        question: &str,
        offset: usize,
        count: usize,
        emergency: bool,
    ) -> Result<(Answer, Reply), BotError> {
        let limit = self.settings.max_passages.max(1);
        let shown_end = offset.saturating_add(count).min(limit);
        let count = shown_end.saturating_sub(offset).max(1);
        let engine = Arc::clone(&self.engine);
        let owned_question = question.to_string();
        let wanted = shown_end.saturating_add(1);
        let started = Instant::now();
        let answer = tokio::task::spawn_blocking(move || engine.ask(&owned_question, wanted))
            .await
            .map_err(BotError::Task)?;
        let has_more = answer.hits.len() > shown_end && shown_end < limit;
        let page = AnswerPage {
            ask,
            offset,
            count,
            // A page size other than the configured one was chosen by the person (`top:`).
            count_asked: count != self.settings.top,
            has_more,
            emergency,
        };
        let reply = render_answer(&answer, page, &self.library());
        tracing::debug!(
            ask,
            answered = answer.answered(),
            hits = answer.hits.len(),
            took_us = started.elapsed().as_micros() as u64,
            "question answered"
        );
        Ok((answer, reply))
    }
}

/// What the engine answers from, gathered once so rendering never waits on the engine.
pub fn build_library(engine: &Engine) -> Library {
    let articles = engine.articles();
    let mut citations = HashMap::new();
    for article in &articles {
        match engine.citations(Some(&article.slug)) {
            Ok(list) => {
                citations.insert(article.slug.clone(), list);
            }
            Err(error) => warn!(article = %article.slug, %error, "cannot list references"),
        }
    }
    Library {
        articles,
        citations,
    }
}

/// Questions remembered for their buttons; older ones fall back to the question shown in the
/// answer's embed.
const ASK_LOG_CAPACITY: usize = 10_000;

/// A question the bot answered, kept so its buttons can page, list references and take votes.
#[derive(Debug, Clone, PartialEq)]
pub struct AskRecord {
    pub question: String,
    /// Passages per page.
    pub page_size: usize,
    pub emergency: bool,
    pub answered: bool,
    /// Ids of the passages shown first, best first.
    pub shown: Vec<String>,
}

impl AskRecord {
    pub fn from_answer(answer: &Answer, page_size: usize, emergency: bool) -> AskRecord {
        AskRecord {
            question: answer.question.clone(),
            page_size,
            emergency,
            answered: answer.answered(),
            shown: answer
                .hits
                .iter()
                .take(page_size)
                .map(|hit| hit.passage.id.clone())
                .collect(),
        }
    }
}

/// A bounded log of recent questions, keyed by the Discord id of what asked (message or
/// interaction). Memory only: questions are not written to disk unless someone votes.
pub struct AskLog {
    capacity: usize,
    entries: Mutex<(HashMap<u64, AskRecord>, VecDeque<u64>)>,
}

impl AskLog {
    pub fn new(capacity: usize) -> AskLog {
        AskLog {
            capacity: capacity.max(1),
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub fn insert(&self, key: u64, record: AskRecord) {
        let mut guard = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *guard;
        if map.insert(key, record).is_none() {
            order.push_back(key);
        }
        while order.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                map.remove(&oldest);
            }
        }
    }

    pub fn get(&self, key: u64) -> Option<AskRecord> {
        let guard = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.get(&key).cloned()
    }
}

/// Counts handlers at work, so a shutdown can wait for answers already being written instead
/// of cutting them off.
#[derive(Debug, Default)]
pub struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held while a handler works; dropping it marks the work done.
pub struct InFlightGuard<'a> {
    in_flight: &'a InFlight,
}

impl InFlight {
    pub fn enter(&self) -> InFlightGuard<'_> {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlightGuard { in_flight: self }
    }

    /// Resolves when nothing is in flight.
    pub async fn drained(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let before = self
            .in_flight
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if before == 1 {
            self.in_flight.idle.notify_waiters();
        }
    }
}

/// The channel allow-list. Threads count as their parent channel; a thread's parent is looked
/// up once (REST) and remembered.
pub struct ChannelGate {
    allowed: Vec<u64>,
    parents: Mutex<HashMap<u64, Option<u64>>>,
}

impl ChannelGate {
    pub fn new(allowed: &[u64]) -> ChannelGate {
        ChannelGate {
            allowed: allowed.to_vec(),
            parents: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the list is empty (answer anywhere).
    pub fn is_open(&self) -> bool {
        self.allowed.is_empty()
    }

    /// Whether a channel, or the thread's parent when known, is allowed.
    pub fn allows(&self, channel_id: u64, parent_id: Option<u64>) -> bool {
        self.is_open()
            || self.allowed.contains(&channel_id)
            || parent_id.is_some_and(|parent| self.allowed.contains(&parent))
    }

    /// The remembered parent of a channel: `Some(None)` for a known non-thread.
    pub fn known_parent(&self, channel_id: u64) -> Option<Option<u64>> {
        let parents = self
            .parents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parents.get(&channel_id).copied()
    }

    pub fn remember_parent(&self, channel_id: u64, parent_id: Option<u64>) {
        let mut parents = self
            .parents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if parents.len() > 4096 {
            parents.clear();
        }
        parents.insert(channel_id, parent_id);
    }

    /// The list, for telling people where to ask.
    pub fn allowed(&self) -> &[u64] {
        &self.allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(question: &str) -> AskRecord {
        AskRecord {
            question: question.to_string(),
            page_size: 1,
            emergency: false,
            answered: true,
            shown: Vec::new(),
        }
    }

    #[test]
    fn ask_log_forgets_the_oldest() {
        let log = AskLog::new(2);
        log.insert(1, record("a"));
        log.insert(2, record("b"));
        log.insert(3, record("c"));
        assert_eq!(log.get(1), None);
        assert_eq!(log.get(3).map(|r| r.question), Some("c".to_string()));
    }

    #[tokio::test]
    async fn in_flight_drains_when_the_last_guard_drops() {
        let in_flight = InFlight::default();
        in_flight.drained().await;
        let guard = in_flight.enter();
        let second = in_flight.enter();
        drop(guard);
        let waiting = in_flight.drained();
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        drop(second);
        waiting.await;
    }

    #[test]
    fn gate_allows_threads_of_listed_channels() {
        let gate = ChannelGate::new(&[10]);
        assert!(gate.allows(10, None));
        assert!(gate.allows(99, Some(10)));
        assert!(!gate.allows(99, None));
        assert!(ChannelGate::new(&[]).allows(5, None));
    }
}
