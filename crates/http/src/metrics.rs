//! `/metrics`: what an operator watches, in Prometheus's text format, from Prometheus's own
//! Rust client. Every series is named `citebot_…`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Where a question came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// A Discord interaction (`/ask`, or a button that asks again).
    Interaction,
    /// `GET /v1/search` or `GET /v1/ask`.
    Api,
    /// The search page, `GET /?q=…`.
    Page,
}

/// What became of a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Answered,
    NoAnswer,
    /// Not asked: a cooldown or a channel not on the allow-list.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QuestionLabels {
    surface: &'static str,
    verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GenerationLabels {
    generation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResponseLabels {
    route: &'static str,
    status: u16,
}

/// The server's metrics, shared by every request.
pub struct Metrics {
    registry: Registry,
    questions: Family<QuestionLabels, Counter>,
    answer_seconds: Histogram,
    generation: Family<GenerationLabels, Gauge>,
    reloads: Counter,
    signature_rejections: Family<ReasonLabels, Counter>,
    refused_requests: Family<ReasonLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("citebot");
        let questions = Family::<QuestionLabels, Counter>::default();
        registry.register(
            "questions",
            "Questions asked, by surface (interaction, api, page) and verdict (answered, no_answer, refused)",
            questions.clone(),
        );
        // 0.5 ms to about 4 s: answers take milliseconds, a deferred one seconds.
        let answer_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "answer_seconds",
            "Time to answer a question, from request to reply",
            answer_seconds.clone(),
        );
        let generation = Family::<GenerationLabels, Gauge>::default();
        registry.register(
            "index_generation",
            "The index generation being served (1 for the current one)",
            generation.clone(),
        );
        let reloads = Counter::default();
        registry.register(
            "index_reloads",
            "Switches to a rebuilt index since start",
            reloads.clone(),
        );
        let signature_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "signature_rejections",
            "Interactions refused with 401, by reason (missing, malformed, stale, invalid)",
            signature_rejections.clone(),
        );
        let refused_requests = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refused_requests",
            "Requests refused before handling, by reason (rate_limited, overloaded, too_large, timeout)",
            refused_requests.clone(),
        );
        let responses = Family::<ResponseLabels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by route and status",
            responses.clone(),
        );
        Metrics {
            registry,
            questions,
            answer_seconds,
            generation,
            reloads,
            signature_rejections,
            refused_requests,
            responses,
        }
    }

    pub fn question(&self, surface: Surface, verdict: Verdict, seconds: Option<f64>) {
        let surface = match surface {
            Surface::Interaction => "interaction",
            Surface::Api => "api",
            Surface::Page => "page",
        };
        let verdict = match verdict {
            Verdict::Answered => "answered",
            Verdict::NoAnswer => "no_answer",
            Verdict::Refused => "refused",
        };
        self.questions
            .get_or_create(&QuestionLabels { surface, verdict })
            .inc();
        if let Some(seconds) = seconds {
            self.answer_seconds.observe(seconds);
        }
    }

    /// Marks `generation` as the one served (and the previous one as not).
    pub fn serving(&self, generation: &str, reloaded: bool) {
        self.generation.clear();
        self.generation
            .get_or_create(&GenerationLabels {
                generation: generation.to_string(),
            })
            .set(1);
        if reloaded {
            self.reloads.inc();
        }
    }

    pub fn signature_rejected(&self, reason: &'static str) {
        self.signature_rejections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused_requests
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn response(&self, route: &'static str, status: u16) {
        self.responses
            .get_or_create(&ResponseLabels { route, status })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_named_citebot() {
        let metrics = Metrics::new();
        metrics.question(Surface::Api, Verdict::Answered, Some(0.002));
        metrics.serving("gen-1", false);
        metrics.serving("gen-2", true);
        metrics.signature_rejected("stale");
        let text = metrics.render();
        assert!(
            text.contains(r#"citebot_questions_total{surface="api",verdict="answered"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"citebot_index_generation{generation="gen-2"} 1"#),
            "{text}"
        );
        assert!(!text.contains("gen-1"), "{text}");
        assert!(text.contains("citebot_index_reloads_total 1"), "{text}");
        assert!(
            text.contains(r#"citebot_signature_rejections_total{reason="stale"} 1"#),
            "{text}"
        );
        for line in text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
        {
            assert!(line.starts_with("citebot_"), "{line}");
        }
    }
}
