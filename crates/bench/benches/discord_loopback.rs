//! The Discord path end to end, on loopback: a question arrives as a gateway MESSAGE_CREATE from
//! the fake Discord (citebot-test-support), the real serenity bot answers it, and
//! the reply is timed when its REST POST reaches the fake. Reports p50/p99 one question at a
//! time, questions/s with a burst in flight, and the peak RSS of this process (bot and fake
//! together: an upper bound for the bot alone).
//!
//! `cargo bench --bench discord_loopback -- [--questions N] [--json FILE]`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use citebot_core::{Config, Engine};
use citebot_discord::{run_with, DiscordSettings};
use citebot_test_support::fake_discord::*;

struct Args {
    questions: usize,
    burst: usize,
    json: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        questions: 300,
        burst: 200,
        json: None,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--questions" => {
                args.questions = iter.next().and_then(|n| n.parse().ok()).unwrap_or(300)
            }
            "--burst" => args.burst = iter.next().and_then(|n| n.parse().ok()).unwrap_or(200),
            "--json" => args.json = iter.next().map(PathBuf::from),
            _ => {} // cargo bench passes `--bench`
        }
    }
    args
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn dev_questions() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("../shared/eval/dev.jsonl")).unwrap_or_default();
    let mut questions: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value["query"].as_str().map(str::to_string))
        .collect();
    if questions.is_empty() {
        questions.push("Can varicose veins lead to calcinosis?".to_string());
    }
    questions
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let index = ((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    sorted[index].as_secs_f64() * 1e3
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn post_question(fake: &FakeDiscord, content: &str) -> u64 {
    let id = fake.next_id();
    let message = message_create(
        id,
        CHANNEL_ID,
        true,
        user(USER_ID, "asker", false),
        &format!("<@{BOT_ID}> {content}"),
        &[bot_mention()],
    );
    fake.dispatch("MESSAGE_CREATE", message);
    id
}

async fn reply_to(fake: &FakeDiscord, from: usize, question_id: u64) -> Recorded {
    let path = format!("/api/v10/channels/{CHANNEL_ID}/messages");
    let question = question_id.to_string();
    fake.wait_for_request(from, "the reply", move |request| {
        request.method == "POST"
            && request.path == path
            && request.body["message_reference"]["message_id"].as_str() == Some(question.as_str())
    })
    .await
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let index_dir = folder.path().join("index");
    let engine = tokio::task::spawn_blocking(move || {
        let mut config = Config::load(&root().join("config.toml")).expect("config.toml loads");
        config.index_dir = index_dir;
        Arc::new(Engine::open(&config).expect("engine opens"))
    })
    .await
    .expect("engine task");

    let fake = FakeDiscord::start().await;
    let settings = DiscordSettings {
        api_base: fake.api_base(),
        guild_id: Some(GUILD_ID),
        cooldown_seconds: 0.0,
        feedback_db: folder.path().join("feedback.sqlite3").into(),
        ..DiscordSettings::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bot = tokio::spawn(run_with(engine, settings, TOKEN.to_string(), async move {
        let _ = stopped.await;
    }));
    fake.wait_until_ready().await;

    let questions = dev_questions();
    for question in questions.iter().take(20) {
        let from = fake.mark();
        let id = post_question(&fake, question);
        reply_to(&fake, from, id).await;
    }

    // One at a time: the latency a person sees, minus Discord's own network.
    let mut latencies = Vec::with_capacity(args.questions);
    for question in questions.iter().cycle().take(args.questions) {
        let from = fake.mark();
        let started = Instant::now();
        let id = post_question(&fake, question);
        reply_to(&fake, from, id).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    // A burst: every question sent at once, timed until the last reply.
    let from = fake.mark();
    let started = Instant::now();
    let ids: Vec<u64> = questions
        .iter()
        .cycle()
        .take(args.burst)
        .map(|question| post_question(&fake, question))
        .collect();
    for id in &ids {
        reply_to(&fake, from, *id).await;
    }
    let burst = started.elapsed();

    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, bot).await;

    let report = serde_json::json!({
        "sequential_questions": latencies.len(),
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "burst_questions": ids.len(),
        "burst_questions_per_s": ids.len() as f64 / burst.as_secs_f64(),
        "peak_rss_mb_bot_and_fake": peak_rss_mb(),
    });
    println!("| questions | p50 ms | p99 ms | burst questions/s | peak RSS MB (bot + fake) |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.2} | {:.0} | {:.0} |",
        latencies.len(),
        report["p50_ms"].as_f64().unwrap_or(f64::NAN),
        report["p99_ms"].as_f64().unwrap_or(f64::NAN),
        report["burst_questions_per_s"].as_f64().unwrap_or(f64::NAN),
        report["peak_rss_mb_bot_and_fake"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    if let Some(path) = args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report).expect("JSON")).expect("write");
    }
}
