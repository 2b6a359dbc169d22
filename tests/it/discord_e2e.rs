//! The Discord bot end to end: the real serenity client against a fake Discord on loopback
//! (citebot-test-support's `fake_discord`). Each test starts a fake and a bot, injects gateway
//! events, and checks what the bot sends back over REST. Every request body the bot sends is
//! also checked against Discord's OpenAPI description (`discord_spec`): at `Bot::stop`, and
//! when the fake is dropped.

use citebot_test_support::fake_discord;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use citebot_core::{Config, Engine};
use citebot_discord::feedback::FeedbackStore;
use citebot_discord::{run_with, BotError, DiscordSettings};
use fake_discord::*;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// One engine over the real article for the whole file; its index lives in cargo's test
/// scratch folder, so it is built once and reused while the corpus is unchanged.
fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    Arc::clone(ENGINE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut config = citebot_core::Config::load(&root.join("config.toml"))
            .expect("the repository's config.toml loads");
        config.index_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("discord-e2e-index");
        Arc::new(Engine::open(&config).expect("the engine opens over the seed article"))
    }))
}

/// A bot connected to its own fake Discord.
struct Bot {
    fake: FakeDiscord,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), BotError>>,
    settings: DiscordSettings,
    _dir: tempfile::TempDir,
}

async fn start_bot(configure: impl FnOnce(&mut DiscordSettings)) -> Bot {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut settings = DiscordSettings {
        api_base: fake.api_base(),
        guild_id: Some(GUILD_ID),
        cooldown_seconds: 0.0,
        feedback_db: dir.path().join("feedback.sqlite3").into(),
        ..DiscordSettings::default()
    };
    configure(&mut settings);
    let engine = tokio::task::spawn_blocking(engine).await.expect("engine");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_with(
        engine,
        settings.clone(),
        TOKEN.to_string(),
        async move {
            let _ = stopped.await;
        },
    ));
    fake.wait_until_ready().await;
    Bot {
        fake,
        stop: Some(stop),
        task,
        settings,
        _dir: dir,
    }
}

impl Bot {
    /// Shuts the bot down the way Ctrl-C does and checks it ends cleanly.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let ended = tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("the bot stops within the wait after shutdown")
            .expect("the bot task does not panic");
        assert!(ended.is_ok(), "the bot ended with an error: {ended:?}");
        self.fake.assert_frames_valid();
        self.fake.assert_requests_valid();
    }

    /// Posts `content` in the test channel, from a person, mentioning the bot.
    fn mention(&self, content: &str) -> u64 {
        let id = self.fake.next_id();
        let message = message_create(
            id,
            CHANNEL_ID,
            true,
            user(USER_ID, "asker", false),
            &format!("<@{BOT_ID}> {content}"),
            &[bot_mention()],
        );
        self.fake.dispatch("MESSAGE_CREATE", message);
        id
    }

    /// Waits for the bot's message in `channel` replying to message `question_id`.
    async fn reply_to(&self, from: usize, channel: u64, question_id: u64) -> Recorded {
        let path = format!("/api/v10/channels/{channel}/messages");
        let question = question_id.to_string();
        self.fake
            .wait_for_request(from, "the reply message", move |request| {
                request.method == "POST"
                    && request.path == path
                    && request.status == 200
                    && request.body["message_reference"]["message_id"].as_str()
                        == Some(question.as_str())
            })
            .await
    }

    /// Sends a slash command and waits for its interaction callback.
    async fn slash(&self, name: &str, options: Value) -> (u64, String, Recorded) {
        let id = self.fake.next_id();
        let token = format!("token-{id}");
        let from = self.fake.mark();
        self.fake.dispatch(
            "INTERACTION_CREATE",
            slash_command(id, &token, name, options),
        );
        let callback = self.callback(from, id, &token).await;
        (id, token, callback)
    }

    async fn callback(&self, from: usize, id: u64, token: &str) -> Recorded {
        let path = format!("/api/v10/interactions/{id}/{token}/callback");
        self.fake
            .wait_for_request(from, "the interaction callback", move |request| {
                request.method == "POST" && request.path == path
            })
            .await
    }

    /// Presses a button under `message` and returns the callback.
    async fn press(&self, custom_id: &str, message: Value) -> Recorded {
        let id = self.fake.next_id();
        let token = format!("token-{id}");
        let from = self.fake.mark();
        self.fake.dispatch(
            "INTERACTION_CREATE",
            button_press(id, &token, custom_id, message),
        );
        self.callback(from, id, &token).await
    }
}

fn no_mentions() -> Value {
    json!({"parse": [], "roles": [], "users": []})
}

fn custom_ids(components: &Value) -> Vec<String> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["custom_id"].as_str().map(str::to_string))
        .collect()
}

fn button_id(components: &Value, prefix: &str) -> String {
    custom_ids(components)
        .into_iter()
        .find(|id| id.starts_with(prefix))
        .unwrap_or_else(|| panic!("no button {prefix}… in {components}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_gets_the_passage_with_its_references() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    let question = bot.mention("Can varicose veins lead to calcinosis?");
    let reply = bot.reply_to(from, CHANNEL_ID, question).await;

    assert_eq!(reply.body["allowed_mentions"], no_mentions());
    let embed = &reply.body["embeds"][0];
    let description = embed["description"].as_str().unwrap();
    assert!(
        description.contains("**Tumors, inflammation, varicose veins, infections, connective tissue disease, hyperphosphatemia, and hypercalcemia can all lead to calcinosis.**"),
        "the answering sentence is in bold: {description}"
    );
    assert_eq!(embed["title"], "Lead");
    let sources = &embed["fields"][0];
    assert!(
        sources["name"].as_str().unwrap().starts_with("Sources [3]"),
        "{sources}"
    );
    assert!(
        sources["value"].as_str().unwrap().contains("**\\[3\\]**"),
        "{sources}"
    );
    assert!(embed["footer"]["text"]
        .as_str()
        .unwrap()
        .contains("not medical advice"));
    insta::assert_json_snapshot!(
        "mention_answer",
        json!({
            "content": reply.body["content"],
            "embeds": reply.body["embeds"],
            "components": reply.body["components"],
            "allowed_mentions": reply.body["allowed_mentions"],
        })
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_registered_with_their_option_contract() {
    let bot = start_bot(|_| {}).await;
    let registration = bot
        .fake
        .requests()
        .into_iter()
        .find(|request| request.method == "PUT")
        .unwrap();
    assert_eq!(
        registration.path,
        format!("/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    );
    let commands = registration.body.as_array().unwrap();
    let find = |name: &str| {
        commands
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no /{name}"))
    };
    let ask = find("ask");
    assert_eq!(ask["options"][0]["name"], "question");
    assert_eq!(ask["options"][0]["type"], 3, "string");
    assert_eq!(ask["options"][0]["required"], true);
    assert_eq!(ask["options"][1]["name"], "top");
    assert_eq!(ask["options"][1]["type"], 4, "integer");
    assert_eq!(ask["options"][1]["min_value"], 1.0);
    assert_eq!(ask["options"][1]["max_value"], 5.0);
    let source = find("source");
    assert_eq!(source["options"][0]["name"], "number");
    assert_eq!(source["options"][0]["type"], 4, "integer");
    assert_eq!(source["options"][0]["autocomplete"], true);
    find("about");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_ask_is_answered_at_once() {
    let bot = start_bot(|_| {}).await;
    let (_, _, callback) = bot
        .slash(
            "ask",
            json!([
                {"name": "question", "type": 3, "value": "how does diltiazem reduce calcium deposits"},
                {"name": "top", "type": 4, "value": 2}
            ]),
        )
        .await;
    assert_eq!(
        callback.body["type"], 4,
        "an immediate reply: {}",
        callback.body
    );
    let data = &callback.body["data"];
    assert_eq!(data["allowed_mentions"], no_mentions());
    assert_eq!(
        data["embeds"].as_array().unwrap().len(),
        2,
        "top:2 shows two passages"
    );
    let first = data["embeds"][0]["description"].as_str().unwrap();
    assert!(first.to_lowercase().contains("diltiazem"), "{first}");
    assert!(custom_ids(&data["components"])
        .iter()
        .any(|id| id.starts_with("cb:more:")));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_slash_ask_is_deferred_then_edited() {
    // A zero deferral budget makes every answer "slow".
    let bot = start_bot(|settings| settings.defer_after_ms = 0).await;
    let from = bot.fake.mark();
    let (_, token, callback) = bot
        .slash("ask", json!([{"name": "question", "type": 3, "value": "Can varicose veins lead to calcinosis?"}]))
        .await;
    assert_eq!(callback.body["type"], 5, "deferred: {}", callback.body);
    let path = format!("/api/v10/webhooks/{APP_ID}/{token}/messages/@original");
    let edit = bot
        .fake
        .wait_for_request(from, "the edit of the deferred response", |request| {
            request.method == "PATCH" && request.path == path
        })
        .await;
    assert_eq!(edit.body["allowed_mentions"], no_mentions());
    assert!(edit.body["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("varicose veins"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_15_shows_the_nejm_citation_with_its_pmid() {
    let bot = start_bot(|_| {}).await;
    let (_, _, callback) = bot
        .slash(
            "source",
            json!([{"name": "number", "type": 4, "value": 15}]),
        )
        .await;
    let embed = &callback.body["data"]["embeds"][0];
    let description = embed["description"].as_str().unwrap();
    assert!(
        description.contains("New England Journal of Medicine"),
        "{description}"
    );
    assert!(
        description.contains("[PMID 21848465](https://pubmed.ncbi.nlm.nih.gov/21848465/)"),
        "{description}"
    );
    insta::assert_json_snapshot!("source_15", callback.body["data"]);

    let (_, _, missing) = bot
        .slash(
            "source",
            json!([{"name": "number", "type": 4, "value": 999}]),
        )
        .await;
    assert_eq!(
        missing.body["data"]["flags"], 64,
        "only the asker sees the mistake"
    );
    let content = missing.body["data"]["content"].as_str().unwrap();
    assert!(content.contains("no reference 999"), "{content}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_autocomplete_offers_numbered_short_titles() {
    let bot = start_bot(|_| {}).await;
    let id = bot.fake.next_id();
    let token = format!("token-{id}");
    let from = bot.fake.mark();
    bot.fake.dispatch(
        "INTERACTION_CREATE",
        autocomplete(id, &token, "source", "number", "1"),
    );
    let callback = bot.callback(from, id, &token).await;
    assert_eq!(
        callback.body["type"], 8,
        "autocomplete result: {}",
        callback.body
    );
    let choices = callback.body["data"]["choices"].as_array().unwrap();
    assert!(!choices.is_empty() && choices.len() <= 25);
    assert!(choices
        .iter()
        .all(|c| c["name"].as_str().unwrap().starts_with('1')));
    assert!(
        choices.iter().any(|c| c["value"] == 15
            && c["name"]
                .as_str()
                .unwrap()
                .contains("New England Journal of Medicine")),
        "{choices:?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_names_the_source_licence_and_not_medical_advice() {
    let bot = start_bot(|_| {}).await;
    let (_, _, callback) = bot.slash("about", json!([])).await;
    let description = callback.body["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap();
    assert!(description.contains("Calcinosis cutis"));
    assert!(description.contains("CC BY-SA 4.0"));
    assert!(description.contains("Not medical advice"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_page_list_references_and_store_votes() {
    let bot = start_bot(|_| {}).await;
    let (_, _, callback) = bot
        .slash("ask", json!([{"name": "question", "type": 3, "value": "how does diltiazem reduce calcium deposits"}]))
        .await;
    let data = &callback.body["data"];
    let answer_message = message_json("880001", &CHANNEL_ID.to_string(), data);
    let first_passage = data["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .to_string();

    // More passages: the next one, only for the presser.
    let more = bot
        .press(
            &button_id(&data["components"], "cb:more:"),
            answer_message.clone(),
        )
        .await;
    assert_eq!(more.body["type"], 4);
    assert_eq!(more.body["data"]["flags"], 64, "ephemeral");
    let second_passage = more.body["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap();
    assert_ne!(
        second_passage, first_passage,
        "the next passage, not the same one"
    );

    // Show references: the full citations with their links.
    let refs = bot
        .press(
            &button_id(&data["components"], "cb:refs:"),
            answer_message.clone(),
        )
        .await;
    let listed = refs.body["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap();
    assert!(listed.contains("**\\[20\\]**"), "{listed}");
    assert!(
        listed.contains("https://doi.org/") || listed.contains("pubmed"),
        "{listed}"
    );

    // 👎: thanked, and stored with a hashed user id.
    let down = bot
        .press(
            &button_id(&data["components"], "cb:vote:").replace(":up", ":down"),
            answer_message,
        )
        .await;
    assert!(down.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("recorded"));
    let path = bot.settings.feedback_db.clone();
    let votes =
        tokio::task::spawn_blocking(move || FeedbackStore::open(&path).unwrap().votes().unwrap())
            .await
            .unwrap();
    assert_eq!(votes.len(), 1);
    assert_eq!(
        votes[0].question,
        "how does diltiazem reduce calcium deposits"
    );
    assert!(!votes[0].up);
    assert!(votes[0].answered);
    assert!(!votes[0].answer_ids.is_empty());
    assert!(!votes[0].user_hash.contains(&USER_ID.to_string()));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_still_work_after_a_restart() {
    // A press on an answer the bot no longer remembers: the question is read back from the
    // "Q: …" line of the answer.
    let bot = start_bot(|_| {}).await;
    let embeds = json!([{
        "author": {"name": "Q: how does diltiazem reduce calcium deposits"},
        "title": "Treatment",
        "description": "…",
        "type": "rich"
    }]);
    let message = message_json(
        "880002",
        &CHANNEL_ID.to_string(),
        &json!({"embeds": embeds}),
    );
    let more = bot.press("cb:more:123456:1", message).await;
    assert_eq!(more.body["data"]["flags"], 64);
    assert!(
        more.body["data"]["embeds"][0]["description"].is_string(),
        "{}",
        more.body
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_topic_question_gets_an_honest_no_answer() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    let question = bot.mention("what's the weather in london tomorrow ☔");
    let reply = bot.reply_to(from, CHANNEL_ID, question).await;
    let embed = &reply.body["embeds"][0];
    assert_eq!(embed["title"], "No answer in the article");
    let description = embed["description"].as_str().unwrap();
    assert!(description.contains("does not answer"), "{description}");
    assert!(description.contains("The article covers:"), "{description}");
    assert!(embed["footer"]["text"]
        .as_str()
        .unwrap()
        .contains("not medical advice"));
    insta::assert_json_snapshot!("no_answer", reply.body["embeds"]);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_in_a_question_pings_no_one() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    let question = bot.mention("@everyone @here <@4001> is calcinosis cutis rare?");
    let reply = bot.reply_to(from, CHANNEL_ID, question).await;
    assert_eq!(reply.body["allowed_mentions"], no_mentions());
    let sent = reply.body.to_string();
    assert!(
        !sent.contains("@everyone") && !sent.contains("@here"),
        "{sent}"
    );
    // The question is echoed only in the embed's author line, which Discord shows as plain
    // text (no mentions, no markdown); everywhere else a mention would be escaped.
    let embed = &reply.body["embeds"][0];
    assert!(embed["author"]["name"]
        .as_str()
        .unwrap()
        .contains("is calcinosis cutis rare?"));
    assert!(!embed["description"].as_str().unwrap().contains("<@"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_question_gets_urgent_care_notice_first() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    let question = bot.mention("I have chest pain and hard lumps on my elbows, is it calcinosis?");
    let reply = bot.reply_to(from, CHANNEL_ID, question).await;
    let content = reply.body["content"].as_str().unwrap();
    assert!(content.starts_with("⚠️"), "{content}");
    assert!(
        content.contains("call your local emergency number"),
        "{content}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_bots_and_itself_are_ignored() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    for author in [user(5000, "otherbot", true), user(BOT_ID, "citebot", true)] {
        let message = message_create(
            bot.fake.next_id(),
            CHANNEL_ID,
            true,
            author,
            &format!("<@{BOT_ID}> how is calcinosis cutis treated?"),
            &[bot_mention()],
        );
        bot.fake.dispatch("MESSAGE_CREATE", message);
    }
    // A person's question after them is answered; by then the bots' messages were handled.
    let question = bot.mention("how is calcinosis cutis treated?");
    bot.reply_to(from, CHANNEL_ID, question).await;
    let replies = bot
        .fake
        .requests()
        .into_iter()
        .skip(from)
        .filter(|request| request.method == "POST" && request.path.ends_with("/messages"))
        .count();
    assert_eq!(replies, 1, "only the person's question is answered");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_message_is_answered_without_a_mention() {
    let bot = start_bot(|_| {}).await;
    let from = bot.fake.mark();
    let dm_channel = 7000;
    let id = bot.fake.next_id();
    bot.fake.dispatch(
        "MESSAGE_CREATE",
        message_create(
            id,
            dm_channel,
            false,
            user(USER_ID, "asker", false),
            "Can varicose veins lead to calcinosis?",
            &[],
        ),
    );
    let reply = bot.reply_to(from, dm_channel, id).await;
    assert!(reply.body["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("varicose veins"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_answers_politely_once() {
    let bot = start_bot(|settings| settings.cooldown_seconds = 60.0).await;
    let from = bot.fake.mark();
    let first = bot.mention("is calcinosis cutis rare?");
    bot.reply_to(from, CHANNEL_ID, first).await;
    let second = bot.mention("what causes it?");
    let refusal = bot.reply_to(from, CHANNEL_ID, second).await;
    let content = refusal.body["content"].as_str().unwrap();
    assert!(content.starts_with("Please wait"), "{content}");
    assert!(refusal.body["embeds"]
        .as_array()
        .is_none_or(|e| e.is_empty()));

    // A slash command during the cooldown gets the same, visible to the asker only.
    let (_, _, callback) = bot
        .slash(
            "ask",
            json!([{"name": "question", "type": 3, "value": "what causes it?"}]),
        )
        .await;
    assert_eq!(callback.body["data"]["flags"], 64);
    assert!(callback.body["data"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Please wait"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_allow_list_is_respected() {
    let bot = start_bot(|settings| settings.allowed_channels = vec![CHANNEL_ID]).await;
    let from = bot.fake.mark();
    let elsewhere = bot.fake.next_id();
    bot.fake.dispatch(
        "MESSAGE_CREATE",
        message_create(
            elsewhere,
            3999,
            true,
            user(USER_ID, "asker", false),
            &format!("<@{BOT_ID}> is it rare?"),
            &[bot_mention()],
        ),
    );
    let allowed = bot.mention("is calcinosis cutis rare?");
    bot.reply_to(from, CHANNEL_ID, allowed).await;
    // The other channel was looked up (it is not a thread of an allowed one) and ignored.
    bot.fake
        .wait_for_request(from, "the channel lookup", |r| {
            r.method == "GET" && r.path == "/api/v10/channels/3999"
        })
        .await;
    assert!(!bot
        .fake
        .requests()
        .iter()
        .any(|r| r.path == "/api/v10/channels/3999/messages"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_per_question_answers_in_a_new_thread() {
    let bot = start_bot(|settings| settings.thread_per_question = true).await;
    let from = bot.fake.mark();
    let question = bot.mention("is calcinosis cutis rare?");
    let created = bot
        .fake
        .wait_for_request(from, "the thread", |r| {
            r.method == "POST" && r.path.ends_with(&format!("/messages/{question}/threads"))
        })
        .await;
    assert_eq!(created.body["name"], format!("is calcinosis cutis rare?"));
    let answer = bot
        .fake
        .wait_for_request(from, "the answer in the thread", |r| {
            r.method == "POST"
                && r.path.ends_with("/messages")
                && !r.path.contains(&CHANNEL_ID.to_string())
        })
        .await;
    assert_eq!(answer.body["allowed_mentions"], no_mentions());
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_reply_is_retried_after_retry_after() {
    let bot = start_bot(|_| {}).await;
    bot.fake.respond_with(
        "POST",
        &format!("/channels/{CHANNEL_ID}/messages"),
        1,
        429,
        // The header says 20 s and the body 0.3 s: the relay must wait the body's finer value.
        // The two are far enough apart that no machine's load can blur them, so the upper bound
        // below checks which value was used, not how fast the machine is.
        &[("retry-after", "20"), ("x-ratelimit-scope", "user")],
        json!({"message": "You are being rate limited.", "retry_after": 0.3, "global": false}),
    );
    let from = bot.fake.mark();
    let question = bot.mention("is calcinosis cutis rare?");
    let delivered = bot.reply_to(from, CHANNEL_ID, question).await;
    let attempts: Vec<Recorded> = bot
        .fake
        .requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(attempts.len(), 2, "one 429, then the retry");
    assert_eq!(attempts[0].status, 429);
    assert_eq!(attempts[1].status, 200);
    let waited = delivered.at - attempts[0].at;
    assert!(
        waited >= Duration::from_millis(300),
        "waited the body's retry_after: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "not the coarser header's 20 s: {waited:?}"
    );
    assert_eq!(
        attempts[0].body, attempts[1].body,
        "the same message is sent again"
    );
    bot.stop().await;
}

/// Everything the bot logs in this test binary at warning level or above, without colours.
/// A global subscriber, because the bot's tasks run on tokio's worker threads; tests that
/// read it look for text only their own fake Discord sends.
fn bot_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let installed = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .try_init();
        installed.expect("no other subscriber is installed in this test binary");
        logs
    }))
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut logs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        logs.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (up to [`WAIT`]) for a log line holding every one of `needles`, and returns it.
async fn wait_for_log_line(needles: &[&str]) -> String {
    let logs = bot_logs();
    let deadline = Instant::now() + WAIT;
    loop {
        let text = {
            let logs = logs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            String::from_utf8_lossy(&logs).into_owned()
        };
        if let Some(line) = text
            .lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
        {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} within {WAIT:?}; the logs:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What can be tested of the production path. Against the real Discord serenity's own rate
/// limiter waits out 429s, and nothing here can reach it; but whatever error serenity surfaces
/// when a reply cannot be sent is handled by the same code for every API base. Here serenity
/// surfaces a 429 (the relay gives up after its retries and passes it on) and a 403 Missing
/// Permissions: each is logged with Discord's message, and the next question is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reply_is_logged_and_the_next_question_answered() {
    bot_logs();
    let bot = start_bot(|_| {}).await;
    let messages = format!("/channels/{CHANNEL_ID}/messages");
    let relay_attempts = 1 + citebot_discord::http::RetryPolicy::default().max_retries as usize;
    let failures = [
        (
            429,
            // With a `code`: serenity decodes an error body only with one, and the message is
            // what tells this test's log line from the others.
            json!({"message": "You are being rate limited (failed-reply test).", "retry_after": 0.05, "global": false, "code": 0}),
            relay_attempts,
        ),
        (
            403,
            json!({"message": "Missing Permissions (failed-reply test).", "code": 50013}),
            1,
        ),
    ];
    for (status, body, times) in failures {
        let message = body["message"].as_str().unwrap_or_default().to_string();
        bot.fake
            .respond_with("POST", &messages, times, status, &[], body);
        let from = bot.fake.mark();
        bot.mention("is calcinosis cutis rare?");
        let line = wait_for_log_line(&["event handling failed", &message]).await;
        assert!(line.contains("ERROR"), "logged as an error: {line}");
        let refused = bot
            .fake
            .requests()
            .into_iter()
            .skip(from)
            .filter(|r| r.method == "POST" && r.path.ends_with(&messages))
            .collect::<Vec<_>>();
        assert_eq!(refused.len(), times, "{status}: every attempt was refused");
        assert!(refused.iter().all(|r| r.status == status), "{refused:?}");

        let from = bot.fake.mark();
        let question = bot.mention("diltiazem");
        let answer = bot.reply_to(from, CHANNEL_ID, question).await;
        let description = answer.body["embeds"][0]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains("Diltiazem"),
            "after a {status} the next question is answered: {}",
            answer.body
        );
    }
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_rate_limit_holds_every_route() {
    let bot = start_bot(|_| {}).await;
    bot.fake.respond_with(
        "POST",
        "/callback",
        1,
        429,
        &[("x-ratelimit-global", "true")],
        json!({"message": "You are being rate limited.", "retry_after": 0.2, "global": true}),
    );
    let (_, _, callback) = bot.slash("about", json!([])).await;
    assert_eq!(callback.status, 429, "the first callback is limited");
    let id = callback.path.split('/').nth(4).unwrap().to_string();
    let retried = bot
        .fake
        .wait_for_request(0, "the retried callback", |r| {
            r.path.contains(&id) && r.status == 204
        })
        .await;
    assert!(retried.at - callback.at >= Duration::from_millis(200));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_gateway_is_resumed_and_missed_events_replayed() {
    let bot = start_bot(|_| {}).await;
    // Something happens so the session has a sequence number past READY.
    let from = bot.fake.mark();
    let first = bot.mention("is calcinosis cutis rare?");
    bot.reply_to(from, CHANNEL_ID, first).await;

    let frames = bot.fake.frames_mark();
    bot.fake.close_gateway(4000);
    // Asked while the bot is disconnected: Discord replays it after RESUME.
    let missed = bot.mention("Can varicose veins lead to calcinosis?");
    let resume = bot.fake.wait_for_frame(frames, 6).await;
    assert_eq!(resume["d"]["session_id"], SESSION_ID);
    assert_eq!(resume["d"]["token"], format!("Bot {TOKEN}"));
    assert!(resume["d"]["seq"].as_u64().unwrap() >= 2, "{resume}");
    assert_eq!(bot.fake.connections(), 2);
    let reply = bot.reply_to(from, CHANNEL_ID, missed).await;
    assert!(reply.body["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("varicose veins"));
    // No second IDENTIFY: the session was resumed, not restarted.
    let identifies = bot
        .fake
        .frames()
        .iter()
        .filter(|frame| frame["op"] == 2)
        .count();
    assert_eq!(identifies, 1);

    // Discord's own "reconnect" request (op 7) is resumed the same way.
    let frames = bot.fake.frames_mark();
    bot.fake.request_reconnect();
    let resume = bot.fake.wait_for_frame(frames, 6).await;
    assert_eq!(resume["d"]["session_id"], SESSION_ID);
    let from = bot.fake.mark();
    let after = bot.mention("is calcinosis cutis rare?");
    bot.reply_to(from, CHANNEL_ID, after).await;
    assert_eq!(bot.fake.connections(), 3);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_token_is_a_clear_error() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = DiscordSettings {
        api_base: fake.api_base(),
        feedback_db: dir.path().join("feedback.sqlite3").into(),
        ..DiscordSettings::default()
    };
    let engine = tokio::task::spawn_blocking(engine).await.unwrap();
    let result = tokio::time::timeout(
        WAIT,
        run_with(
            engine,
            settings,
            "wrong".to_string(),
            std::future::pending(),
        ),
    )
    .await
    .expect("fails fast");
    let error = result.expect_err("a rejected token stops the bot");
    assert!(matches!(error, BotError::TokenRejected { .. }), "{error:?}");
    assert!(error.to_string().contains("DISCORD_TOKEN"), "{error}");
    assert_eq!(
        fake.connections(),
        0,
        "no gateway connection with a bad token"
    );
    assert!(
        !format!("{error:?}").contains("wrong"),
        "the token is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_is_a_clear_error() {
    let settings = DiscordSettings {
        token_env: "CITEBOT_TEST_TOKEN_THAT_IS_NEVER_SET".to_string(),
        ..DiscordSettings::default()
    };
    let error = citebot_discord::run(Config::default(), settings)
        .await
        .expect_err("no token, no bot");
    assert!(matches!(error, BotError::TokenMissing { .. }), "{error:?}");
    assert!(error
        .to_string()
        .contains("CITEBOT_TEST_TOKEN_THAT_IS_NEVER_SET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_command_registration_stops_the_bot() {
    let fake = FakeDiscord::start().await;
    fake.respond_with(
        "PUT",
        "/commands",
        1,
        400,
        &[],
        json!({"message": "Invalid Form Body", "code": 50035}),
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = DiscordSettings {
        api_base: fake.api_base(),
        feedback_db: dir.path().join("feedback.sqlite3").into(),
        ..DiscordSettings::default()
    };
    let engine = tokio::task::spawn_blocking(engine).await.unwrap();
    let result = tokio::time::timeout(
        WAIT,
        run_with(engine, settings, TOKEN.to_string(), std::future::pending()),
    )
    .await
    .expect("stops by itself");
    assert!(
        matches!(result, Err(BotError::Registration(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_latency_over_loopback() {
    let bot = start_bot(|_| {}).await;
    // Warm up: the first question pays for caches.
    let from = bot.fake.mark();
    let warm = bot.mention("is calcinosis cutis rare?");
    bot.reply_to(from, CHANNEL_ID, warm).await;

    let questions = [
        "Can varicose veins lead to calcinosis?",
        "how does diltiazem reduce calcium deposits",
        "what's the weather in london tomorrow",
        "where do lesions show up in systemic sclerosis vs lupus",
    ];
    let mut latencies = Vec::new();
    for index in 0..200 {
        let from = bot.fake.mark();
        let sent = Instant::now();
        let question = bot.mention(questions[index % questions.len()]);
        let reply = bot.reply_to(from, CHANNEL_ID, question).await;
        latencies.push(reply.at - sent);
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "mention → reply over loopback, 200 questions: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies[latencies.len() - 1]
    );
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
    bot.stop().await;
}

#[test]
fn fixed_frames_are_readable_by_serenity() {
    for frame in [
        json!({"op": 10, "d": {"heartbeat_interval": 250}}),
        json!({"op": 11}),
        json!({"op": 0, "t": "RESUMED", "s": 3, "d": {}}),
        json!({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": message_create(1, CHANNEL_ID, true, user(USER_ID, "a", false), "hi", &[bot_mention()])}),
        json!({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": message_create(1, 7000, false, user(USER_ID, "a", false), "hi", &[])}),
        json!({"op": 0, "t": "INTERACTION_CREATE", "s": 4, "d": slash_command(9, "t", "ask", json!([{"name": "question", "type": 3, "value": "x"}]))}),
        json!({"op": 0, "t": "INTERACTION_CREATE", "s": 5, "d": autocomplete(9, "t", "source", "number", "1")}),
        json!({"op": 0, "t": "INTERACTION_CREATE", "s": 6, "d": button_press(9, "t", "cb:vote:1:up", message_json("8", "3000", &json!({})))}),
    ] {
        if let Err(problem) = fake_discord::validate(&frame.to_string()) {
            panic!("{problem}: {frame}");
        }
    }
    // And the check itself catches what serenity would drop.
    let broken = json!({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {"id": "1"}});
    assert!(fake_discord::validate(&broken.to_string()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_index_is_picked_up_without_a_restart() {
    // An engine of its own, over a copy of the corpus this test can change.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().unwrap();
    let corpus = scratch.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let article = std::fs::read_to_string(root.join("corpus/calcinosis-cutis.txt")).unwrap();
    std::fs::write(corpus.join("calcinosis-cutis.txt"), &article).unwrap();
    let mut config = citebot_core::Config::load(&root.join("config.toml")).unwrap();
    config.corpus_dir = corpus.clone();
    config.index_dir = scratch.path().join("index");
    let engine_config = config.clone();
    let engine =
        tokio::task::spawn_blocking(move || Arc::new(Engine::open(&engine_config).unwrap()))
            .await
            .unwrap();

    let fake = FakeDiscord::start().await;
    let settings = DiscordSettings {
        api_base: fake.api_base(),
        cooldown_seconds: 0.0,
        reload_interval_seconds: 0.1,
        feedback_db: scratch.path().join("feedback.sqlite3").into(),
        ..DiscordSettings::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_with(engine, settings, TOKEN.to_string(), async move {
        let _ = stopped.await;
    }));
    fake.wait_until_ready().await;

    let ask = |content: &'static str| {
        let id = fake.next_id();
        let from = fake.mark();
        fake.dispatch(
            "MESSAGE_CREATE",
            message_create(
                id,
                CHANNEL_ID,
                true,
                user(USER_ID, "asker", false),
                &format!("<@{BOT_ID}> {content}"),
                &[bot_mention()],
            ),
        );
        let path = format!("/api/v10/channels/{CHANNEL_ID}/messages");
        let question_id = id.to_string();
        let fake = &fake;
        async move {
            fake.wait_for_request(from, "the reply", |r| {
                r.method == "POST"
                    && r.path == path
                    && r.body["message_reference"]["message_id"] == question_id.as_str()
            })
            .await
        }
    };
    let question = "do zorblax players get calcinosis cutis from quendles?";
    let before = ask(question).await;
    assert_eq!(
        before.body["embeds"][0]["title"],
        "No answer in the article"
    );

    // `citebot index` after the article changed: the bot switches to the new index by itself.
    let changed = article.replacen(
        "Diltiazem, a calcium channel blocker,",
        "Zorblax players get calcinosis cutis from quendles in this test. [1] Diltiazem, a calcium channel blocker,",
        1,
    );
    std::fs::write(corpus.join("calcinosis-cutis.txt"), changed).unwrap();
    tokio::task::spawn_blocking(move || {
        citebot_core::index::rebuild(&config, citebot_core::index::RebuildOptions::default())
            .unwrap()
    })
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let after = ask(question).await;
        let description = after.body["embeds"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if description.contains("Zorblax players") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bot still answers from the old index: {description}"
        );
        tokio::task::yield_now().await;
    }
    let _ = stop.send(());
    let ended = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert!(ended.is_ok(), "{ended:?}");
}

/// Renders the bot's real reply to a real question as a Discord-like HTML page, the source of
/// the picture in docs/discord.md. Writes docs/embed-example.html only when
/// `CITEBOT_UPDATE_DOCS=1` is set (then screenshot it, see docs/discord.md); otherwise it only
/// checks that the page renders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_example_for_the_docs() {
    let bot = start_bot(|settings| settings.top = 2).await;
    let from = bot.fake.mark();
    let question = "how does diltiazem reduce calcium deposits?";
    let id = bot.mention(question);
    let reply = bot.reply_to(from, CHANNEL_ID, id).await;
    bot.stop().await;

    let page = discord_like_html(&format!("@citebot {question}"), &reply.body);
    assert!(page.contains("<strong>"), "the answering sentence is bold");
    assert!(!page.contains("**"), "no markdown left over");
    if std::env::var_os("CITEBOT_UPDATE_DOCS").is_some() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/embed-example.html");
        std::fs::write(&path, page).unwrap();
        println!("wrote {}", path.display());
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The Discord markdown the bot writes (escapes, **bold**, [links](url), `code`, line breaks)
/// as HTML.
fn markdown_html(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut bold = false;
    let mut code = false;
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        let next = chars.get(index + 1).copied();
        if ch == '\\' && next.is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            out.push_str(&html_escape(&next.unwrap().to_string()));
            index += 2;
        } else if ch == '*' && next == Some('*') {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            index += 2;
        } else if ch == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            index += 1;
        } else if ch == '[' {
            let rest: String = chars[index..].iter().collect();
            // A masked link: a label without brackets, directly followed by "(url)".
            let link = rest[1..]
                .find(['[', ']'])
                .map(|at| at + 1)
                .filter(|&middle| rest[middle..].starts_with("]("))
                .and_then(|middle| rest[middle..].find(')').map(|end| (middle, middle + end)));
            match link {
                Some((middle, end)) => {
                    let label = &rest[1..middle];
                    let url = &rest[middle + 2..end];
                    out.push_str(&format!(
                        "<a href=\"{}\">{}</a>",
                        html_escape(url),
                        markdown_html(label)
                    ));
                    index += rest[..=end].chars().count();
                }
                None => {
                    out.push('[');
                    index += 1;
                }
            }
        } else if ch == '\n' {
            out.push_str("<br>");
            index += 1;
        } else {
            out.push_str(&html_escape(&ch.to_string()));
            index += 1;
        }
    }
    out
}

fn discord_like_html(question: &str, message: &Value) -> String {
    let mut embeds = String::new();
    for embed in message["embeds"].as_array().into_iter().flatten() {
        let color = embed["color"].as_u64().unwrap_or(0x3b82f6);
        let mut inner = String::new();
        if let Some(author) = embed["author"]["name"].as_str() {
            inner.push_str(&format!("<div class=author>{}</div>", html_escape(author)));
        }
        if let Some(title) = embed["title"].as_str() {
            let url = embed["url"].as_str().unwrap_or("#");
            inner.push_str(&format!(
                "<div class=title><a href=\"{}\">{}</a></div>",
                html_escape(url),
                markdown_html(title)
            ));
        }
        if let Some(description) = embed["description"].as_str() {
            inner.push_str(&format!(
                "<div class=description>{}</div>",
                markdown_html(description)
            ));
        }
        for field in embed["fields"].as_array().into_iter().flatten() {
            inner.push_str(&format!(
                "<div class=field><div class=field-name>{}</div><div class=field-value>{}</div></div>",
                markdown_html(field["name"].as_str().unwrap_or_default()),
                markdown_html(field["value"].as_str().unwrap_or_default())
            ));
        }
        if let Some(footer) = embed["footer"]["text"].as_str() {
            inner.push_str(&format!("<div class=footer>{}</div>", html_escape(footer)));
        }
        embeds.push_str(&format!(
            "<div class=embed style=\"border-left-color:#{color:06x}\">{inner}</div>"
        ));
    }
    let mut buttons = String::new();
    for row in message["components"].as_array().into_iter().flatten() {
        buttons.push_str("<div class=row>");
        for button in row["components"].as_array().into_iter().flatten() {
            let style = if button["style"] == 1 {
                "primary"
            } else {
                "secondary"
            };
            let emoji = button["emoji"]["name"]
                .as_str()
                .map(|e| format!("{e} "))
                .unwrap_or_default();
            buttons.push_str(&format!(
                "<span class=\"button {style}\">{}{}</span>",
                html_escape(&emoji),
                html_escape(button["label"].as_str().unwrap_or_default())
            ));
        }
        buttons.push_str("</div>");
    }
    let content = message["content"]
        .as_str()
        .map(markdown_html)
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>citebot answer (example)</title>
<style>
body {{ margin: 0; background: #313338; color: #dbdee1; font: 15px/1.375 "gg sans", "Noto Sans", "Helvetica Neue", Helvetica, Arial, sans-serif; }}
.chat {{ max-width: 760px; padding: 16px 16px 24px; }}
.message {{ display: flex; gap: 16px; margin-top: 16px; }}
.avatar {{ flex: none; width: 40px; height: 40px; border-radius: 50%; display: flex; align-items: center; justify-content: center; color: white; font-weight: 600; }}
.user .avatar {{ background: #5c6bc0; }} .bot .avatar {{ background: #14b8a6; }}
.name {{ color: #f2f3f5; font-weight: 600; }} .tag {{ background: #5865f2; color: white; font-size: 10px; font-weight: 600; padding: 1px 4px; border-radius: 3px; margin-left: 4px; vertical-align: 2px; }}
.time {{ color: #949ba4; font-size: 12px; margin-left: 6px; }}
.mention {{ background: rgba(88,101,242,.3); color: #c9cdfb; border-radius: 3px; padding: 0 2px; }}
.reply {{ color: #949ba4; font-size: 13px; margin-left: 56px; }}
.embed {{ background: #2b2d31; border-left: 4px solid; border-radius: 4px; padding: 8px 16px 16px 12px; margin-top: 4px; max-width: 520px; }}
.author {{ font-size: 13px; font-weight: 600; color: #f2f3f5; margin-top: 8px; }}
.title {{ font-weight: 600; margin-top: 8px; }} .title a {{ color: #00a8fc; text-decoration: none; }}
.description {{ font-size: 14px; margin-top: 8px; white-space: normal; }}
.description strong, .field-value strong {{ color: #f2f3f5; }}
.field {{ margin-top: 8px; font-size: 14px; }} .field-name {{ font-weight: 600; color: #f2f3f5; margin-bottom: 2px; }}
a {{ color: #00a8fc; text-decoration: none; }}
code {{ background: #1e1f22; border-radius: 3px; padding: 0 3px; font-size: 85%; }}
.footer {{ font-size: 12px; color: #b5bac1; margin-top: 8px; }}
.row {{ display: flex; gap: 8px; margin-top: 8px; }}
.button {{ padding: 2px 16px; height: 32px; line-height: 32px; border-radius: 3px; font-size: 14px; font-weight: 500; color: white; }}
.primary {{ background: #5865f2; }} .secondary {{ background: #4e5058; }}
.note {{ color: #949ba4; font-size: 12px; margin: 0 16px; }}
</style></head>
<body><div class="chat">
<div class="message user"><div class="avatar">A</div><div><span class="name">asker</span><span class="time">Today at 14:02</span><div>{question_html}</div></div></div>
<div class="reply">↱ replying to asker</div>
<div class="message bot"><div class="avatar">cb</div><div><span class="name">citebot</span><span class="tag">APP</span><span class="time">Today at 14:02</span><div>{content}</div>{embeds}{buttons}</div></div>
</div>
<p class="note">Rendered by tests/discord_e2e.rs (embed_example_for_the_docs) from the message the bot sent to a fake Discord; Discord's own rendering differs in details.</p>
</body></html>
"#,
        question_html =
            html_escape(question).replacen("@citebot", "<span class=mention>@citebot</span>", 1),
    )
}

#[test]
fn bot_command_without_a_token_exits_with_a_clear_error() {
    let output = assert_cmd::Command::cargo_bin("citebot")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISCORD_TOKEN")
        .arg("bot")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("citebot: the environment variable DISCORD_TOKEN"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn feedback_command_summarises_and_exports_down_votes() {
    use citebot_discord::feedback::Vote;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("feedback.sqlite3");
    let store = FeedbackStore::open(&db.clone().into()).unwrap();
    for (ask, user, up) in [("1", 1, false), ("1", 2, false), ("2", 1, true)] {
        store
            .record(&Vote {
                ask_key: ask.to_string(),
                user_id: user,
                question: if ask == "1" {
                    "do steroid injections help?"
                } else {
                    "is it rare?"
                }
                .to_string(),
                answer_ids: vec!["calcinosis-cutis#p20".to_string()],
                answered: true,
                up,
            })
            .unwrap();
    }
    drop(store);
    let output = assert_cmd::Command::cargo_bin("citebot")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["feedback", "--db"])
        .arg(&db)
        .args(["--export", "-"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("3 votes: 1 up, 2 down, from 2 people on 2 questions"),
        "{stdout}"
    );
    let exported: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["query"], "do steroid injections help?");
    assert_eq!(exported[0]["kind"], "unanswerable");
    assert_eq!(exported[0]["evidence"], json!([]));
}
