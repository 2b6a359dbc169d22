//! `citebot serve` as deployed: replicas started with the systemd unit's own command line
//! (deploy/citebot@.service) behind nginx running the shipped config (deploy/nginx.conf), all
//! on 127.0.0.1. The test plays Discord: it signs interactions with a fixed Ed25519 key whose
//! public half the replicas get in `DISCORD_PUBLIC_KEY`, and the fake Discord of
//! tests/support receives the webhook edits of deferred answers.
//!
//! - 2,000 signed interactions at concurrency 50 while one replica is killed (SIGKILL) and
//!   started again: every one is answered. Latency and throughput are printed, not asserted
//!   (the machine is shared).
//! - The JSON API is rate limited per address; `/interactions` is not.
//! - A body over 64 KiB gets 413 from nginx.
//! - The unit passes `systemd-analyze verify`.
//!
//! nginx comes from Debian's package and `systemd-analyze` from systemd's (.ci/run installs
//! both when missing); without them these tests fail and say what to install.

use citebot_test_support as common;
use citebot_test_support::fake_discord;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{copy_tree, repo_root, shared_seed_env, Workspace};
use ed25519_dalek::{Signer, SigningKey};
use fake_discord::FakeDiscord;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The interactions of the load test, and how many are in flight at once.
const LOAD_INTERACTIONS: usize = 2_000;
const LOAD_CONCURRENCY: usize = 50;

/// The application's signing key, from a fixed seed: Discord holds the private half, the
/// replicas get the public half.
fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5e; 32])
}

fn public_key_hex() -> String {
    hex(signing_key().verifying_key().as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The systemd unit

fn unit_path() -> PathBuf {
    repo_root().join("deploy").join("citebot@.service")
}

/// Where the unit expects the binary and the config; the tests put their own in their place.
const UNIT_BINARY: &str = "/usr/local/bin/citebot";
const UNIT_CONFIG: &str = "/etc/citebot/config.toml";

/// The unit's `ExecStart=` command line, word by word, for the instance `port`, with the
/// binary and config paths replaced by `binary` and `config`.
fn unit_exec_start(binary: &Path, config: &Path, port: u16) -> Vec<String> {
    let unit = fs::read_to_string(unit_path())
        .unwrap_or_else(|error| panic!("read {}: {error}", unit_path().display()));
    let exec_start: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(
        exec_start.len(),
        1,
        "the unit should have exactly one ExecStart= line"
    );
    let line = exec_start[0];
    // Splitting on spaces is only systemd's parsing when nothing is quoted or escaped.
    assert!(
        !line.contains(['"', '\'', '\\', '$']),
        "the test splits ExecStart= on spaces; it has quotes, escapes or variables: {line}"
    );
    let words: Vec<String> = line
        .split_whitespace()
        .map(|word| match word {
            UNIT_BINARY => binary.display().to_string(),
            UNIT_CONFIG => config.display().to_string(),
            other => other.replace("%i", &port.to_string()),
        })
        .collect();
    assert_eq!(
        words.first().map(String::as_str),
        Some(binary.to_str().expect("utf-8 binary path")),
        "ExecStart= should start with {UNIT_BINARY}: {line}"
    );
    assert!(
        words
            .iter()
            .any(|word| word == config.to_str().unwrap_or_default()),
        "ExecStart= should pass --config {UNIT_CONFIG}: {line}"
    );
    assert!(
        !words.iter().any(|word| word.contains('%')),
        "ExecStart= uses a specifier this test does not fill in: {line}"
    );
    words
}

fn citebot_binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("citebot")
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let analyze = find_program("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().expect("temp dir");
    // `verify` checks that the binary exists and is executable, so it gets the real one; the
    // rest of the file is the shipped unit, as an instance of the template.
    let unit = fs::read_to_string(unit_path()).expect("read the unit");
    let instance = dir.path().join("citebot@8081.service");
    common::write(
        &instance,
        unit.replace(UNIT_BINARY, &citebot_binary().display().to_string())
            .as_bytes(),
    );
    let output = Command::new(&analyze)
        .arg("verify")
        .arg(&instance)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", analyze.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // An unknown or misplaced key is only a warning with exit status 0, so any output fails.
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify deploy/citebot@.service: {:?}\n{stderr}",
        output.status
    );
}

// ---------------------------------------------------------------------------------------------
// The replicas

/// One `citebot serve` child process, started with the unit's command line. Killed on drop.
struct Replica {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

/// How long a replica may take to open the index and listen (a loaded machine, debug build).
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(120);

impl Replica {
    /// Starts a replica with the config file `config` on `port` (0: a free one), sending
    /// deferred answers to the API at `api_base`, and waits until it is listening.
    fn start(config: &Path, port: u16, api_base: &str) -> Replica {
        let argv = unit_exec_start(&citebot_binary(), config, port);
        let mut command = common::citebot_std_command(Path::new(&argv[0]));
        command
            .args(&argv[1..])
            .env("DISCORD_PUBLIC_KEY", public_key_hex())
            .env("CITEBOT_DISCORD_API_BASE", api_base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("start {argv:?}: {error}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serving_tx, serving_rx) = mpsc::channel();
        // Drains stderr for the whole life of the process (a full pipe would stall it) and
        // reports the "serving on" line.
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("citebot: serving on http://") {
                    let _ = serving_tx.send(address.to_string());
                }
                lock(&thread_log).push(line);
            }
        });
        let address = match serving_rx.recv_timeout(REPLICA_START_TIMEOUT) {
            Ok(address) => address,
            Err(error) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let what = match error {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not listen within {REPLICA_START_TIMEOUT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        format!("exited ({status:?}) before listening")
                    }
                };
                panic!(
                    "{argv:?} {what}: no `citebot: serving on http://…` line; stderr:\n{}",
                    lock(&log).join("\n")
                );
            }
        };
        let bound_port = address
            .strip_prefix("127.0.0.1:")
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("serving line names no 127.0.0.1 port: {address}"));
        if port != 0 {
            assert_eq!(
                bound_port, port,
                "the replica should listen where it was told"
            );
        }
        Replica {
            child,
            port: bound_port,
            log,
        }
    }

    /// SIGKILL: no chance to finish what it is doing, as in a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        lock(&self.log).join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// nginx

/// nginx running deploy/nginx.conf (placeholders filled in) in its own prefix folder, in the
/// foreground. Stopped on drop.
struct Nginx {
    binary: PathBuf,
    prefix: TempDir,
    child: Child,
    port: u16,
}

/// The upstream line for one replica, as deploy/nginx.conf documents it.
fn upstream_line(port: u16) -> String {
    format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;")
}

impl Nginx {
    fn start(replica_ports: &[u16]) -> Nginx {
        let binary = find_program("nginx", "nginx");
        let prefix = tempfile::Builder::new()
            .prefix("citebot-nginx-")
            .tempdir()
            .expect("temp dir");
        let dir = prefix.path();
        let port = free_port();

        let shipped_path = repo_root().join("deploy").join("nginx.conf");
        let shipped = fs::read_to_string(&shipped_path)
            .unwrap_or_else(|error| panic!("read {}: {error}", shipped_path.display()));
        let upstreams: Vec<String> = replica_ports.iter().map(|&p| upstream_line(p)).collect();
        // Placeholders are filled in outside comments (the header's comment names them too).
        let leftover = regex::Regex::new(r"@[A-Z_]+@").expect("regex");
        let filled: Vec<String> = shipped
            .lines()
            .map(|line| {
                if line.trim_start().starts_with('#') {
                    return line.to_string();
                }
                let line = line
                    .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
                    .replace("@UPSTREAMS@", &upstreams.join("\n    "));
                assert!(
                    !leftover.is_match(&line),
                    "deploy/nginx.conf has a placeholder this test does not fill in: {line}"
                );
                line
            })
            .collect();
        let filled = filled.join("\n");
        common::write(&dir.join("citebot.conf"), filled.as_bytes());

        // nginx's main context, which the shipped file (an http-block include, like
        // /etc/nginx/conf.d/*.conf) leaves to the machine's nginx.conf. Running as root, the
        // master drops its workers to `nobody`, which must be able to enter the prefix folder
        // and write the temp folders; as another user the `user` line would only be a warning.
        let running_as_root = fs::metadata(dir).expect("prefix metadata").uid() == 0;
        let user_line = if running_as_root {
            "user nobody nogroup;"
        } else {
            ""
        };
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod prefix");
        let d = dir.display();
        let main = format!(
            "{user_line}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$status $request_uri upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
    access_log {d}/access.log upstreams;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/citebot.conf;
}}
"
        );
        common::write(&dir.join("nginx.conf"), main.as_bytes());

        let check = Command::new(&binary)
            .args(nginx_args(dir))
            .arg("-t")
            .output()
            .unwrap_or_else(|error| panic!("run {} -t: {error}", binary.display()));
        assert!(
            check.status.success(),
            "nginx -t rejects deploy/nginx.conf:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );

        let stderr = fs::File::create(dir.join("stderr.log")).expect("nginx stderr file");
        let child = Command::new(&binary)
            .args(nginx_args(dir))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
        let mut nginx = Nginx {
            binary,
            prefix,
            child,
            port,
        };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nginx is not listening on {} after 10 s:\n{}",
            self.port,
            self.logs()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The access log, one line per request: status, upstream address(es) tried, their statuses.
    fn access_log(&self) -> String {
        fs::read_to_string(self.prefix.path().join("access.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        let read =
            |name: &str| fs::read_to_string(self.prefix.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

fn nginx_args(prefix: &Path) -> Vec<String> {
    vec![
        "-p".to_string(),
        format!("{}/", prefix.display()),
        "-c".to_string(),
        prefix.join("nginx.conf").display().to_string(),
    ]
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` signals the master through its pid file; it stops its workers with it (a
        // SIGKILLed master would leave them listening).
        let _ = Command::new(&self.binary)
            .args(nginx_args(self.prefix.path()))
            .args(["-s", "stop"])
            .output();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on the PATH or in /usr/sbin (root's PATH has it, other users' often not).
fn find_program(name: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: `apt-get install -y --no-install-recommends \
                 {debian_package}` (.ci/run does this on CI machines)"
            )
        })
}

/// A port nobody listens on now (bound, then released: good enough on a test machine).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

#[test]
fn the_shipped_nginx_config_runs_with_its_placeholders_filled_in() {
    // Replicas that are not there: nginx starts all the same and answers for them.
    let nginx = Nginx::start(&[free_port(), free_port()]);
    let mut stream =
        TcpStream::connect((Ipv4Addr::LOCALHOST, nginx.port)).expect("connect to nginx");
    std::io::Write::write_all(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .expect("send a request");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("read the response");
    assert!(
        response.starts_with("HTTP/1.1 502"),
        "no replica up: 502 with nginx's JSON error, got:\n{response}"
    );
    assert!(
        response.contains("citebot is unavailable") && !response.contains("nginx/"),
        "a JSON error without nginx's version:\n{response}"
    );
}

// ---------------------------------------------------------------------------------------------
// Interactions, as Discord sends them

const APPLICATION_ID: &str = "1000";

/// What the load test sends: a PING (Discord's endpoint check) or an `/ask`.
#[derive(Debug, Clone)]
enum Interaction {
    Ping {
        id: u64,
    },
    Ask {
        id: u64,
        user: u64,
        question: String,
    },
}

impl Interaction {
    fn token(&self) -> String {
        let id = match self {
            Interaction::Ping { id } | Interaction::Ask { id, .. } => id,
        };
        format!("interaction-token-{id}")
    }

    fn body(&self) -> Value {
        match self {
            Interaction::Ping { id } => json!({
                "type": 1,
                "id": id.to_string(),
                "application_id": APPLICATION_ID,
                "token": self.token(),
                "version": 1
            }),
            Interaction::Ask { id, user, question } => {
                let user = fake_discord::user(*user, &format!("user{user}"), false);
                let mut member = fake_discord::member(&user);
                member["permissions"] = json!("0");
                json!({
                    "type": 2,
                    "id": id.to_string(),
                    "application_id": APPLICATION_ID,
                    "token": self.token(),
                    "version": 1,
                    "guild_id": fake_discord::GUILD_ID.to_string(),
                    "channel_id": fake_discord::CHANNEL_ID.to_string(),
                    "member": member,
                    "data": {
                        "id": "5000",
                        "name": "ask",
                        "type": 1,
                        "options": [{"name": "question", "type": 3, "value": question}]
                    },
                    "app_permissions": "0",
                    "locale": "en-US",
                    "guild_locale": "en-US",
                    "entitlements": [],
                    "authorizing_integration_owners": {"0": fake_discord::GUILD_ID.to_string()},
                    "context": 0,
                    "attachment_size_limit": 8_388_608
                })
            }
        }
    }
}

#[test]
fn the_test_interactions_are_what_serenity_reads() {
    // The server reads interactions with serenity's model; a payload it cannot read would make
    // the load test measure error responses instead of answers.
    use serenity::model::application::Interaction as SerenityInteraction;
    let Some(interactions) = load_interactions(2) else {
        return;
    };
    for interaction in interactions {
        let read: SerenityInteraction = serde_json::from_value(interaction.body())
            .unwrap_or_else(|error| panic!("serenity cannot read {interaction:?}: {error}"));
        match (&interaction, read) {
            (Interaction::Ping { .. }, SerenityInteraction::Ping(_)) => {}
            (Interaction::Ask { question, .. }, SerenityInteraction::Command(command)) => {
                assert_eq!(command.data.name, "ask");
                assert_eq!(
                    command.data.options[0].value.as_str(),
                    Some(question.as_str())
                );
            }
            (sent, read) => panic!("{sent:?} was read as {read:?}"),
        }
    }
}

/// A POST of `body` to `url`, signed as Discord signs: Ed25519 over timestamp + body.
fn signed_post(client: &reqwest::Client, url: &str, body: &[u8]) -> reqwest::RequestBuilder {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .to_string();
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature = signing_key().sign(&message);
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", hex(&signature.to_bytes()))
        .header("x-signature-timestamp", timestamp)
        .body(body.to_vec())
}

/// What came back for one interaction.
struct Outcome {
    interaction: Interaction,
    latency: Duration,
    /// Why it does not count as answered, if it does not.
    problem: Option<String>,
    deferred: bool,
}

async fn send_interaction(
    client: &reqwest::Client,
    url: &str,
    interaction: Interaction,
) -> Outcome {
    let body = serde_json::to_vec(&interaction.body()).expect("json");
    let started = Instant::now();
    let response = signed_post(client, url, &body).send().await;
    let (status, text) = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.map_err(|e| e.to_string()))
        }
        Err(error) => (0, Err(error.to_string())),
    };
    let latency = started.elapsed();
    let parsed = text
        .map_err(|error| format!("no response body: {error}"))
        .and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|error| format!("body is not JSON ({error}): {text}"))
        });
    let response_type = parsed.as_ref().ok().and_then(|body| body["type"].as_u64());
    let problem = match (&interaction, status, &parsed, response_type) {
        (_, 200, Ok(_), Some(1)) if matches!(interaction, Interaction::Ping { .. }) => None,
        (Interaction::Ask { .. }, 200, Ok(_), Some(5)) => None,
        (Interaction::Ask { .. }, 200, Ok(body), Some(4)) => {
            let data = &body["data"];
            let shows_something = data["embeds"].as_array().is_some_and(|e| !e.is_empty())
                || data["content"]
                    .as_str()
                    .is_some_and(|c| !c.trim().is_empty());
            (!shows_something).then(|| format!("type 4 with nothing to show: {body}"))
        }
        (_, _, Err(error), _) => Some(format!("status {status}: {error}")),
        (_, _, Ok(body), _) => Some(format!("status {status}: {body}")),
    };
    Outcome {
        interaction,
        latency,
        problem,
        deferred: response_type == Some(5),
    }
}

/// The questions of the seed article's development set (`../shared/eval/dev.jsonl`); `None`
/// only when the test skips on purpose (see [`common::shared`]).
fn dev_questions() -> Option<Vec<String>> {
    let path = common::shared()?.join("eval").join("dev.jsonl");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let questions: Vec<String> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{}: not JSON ({error}): {line}", path.display()));
            record["query"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no \"query\": {line}", path.display()))
                .to_string()
        })
        .collect();
    assert!(!questions.is_empty(), "{} has no questions", path.display());
    Some(questions)
}

/// Half PINGs, half `/ask`s, each `/ask` from its own user (so no cooldown is hit) with the
/// development questions in turn; `None` when the test skips on purpose.
fn load_interactions(count: usize) -> Option<Vec<Interaction>> {
    let questions = dev_questions()?;
    let interactions = (0..count)
        .map(|i| {
            let id = 1_000_000 + i as u64;
            if i % 2 == 0 {
                Interaction::Ping { id }
            } else {
                Interaction::Ask {
                    id,
                    user: 10_000 + i as u64,
                    question: questions[(i / 2) % questions.len()].clone(),
                }
            }
        })
        .collect();
    Some(interactions)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(LOAD_CONCURRENCY)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The replicas' folder: the seed corpus, a copy of the index built once for the test binary,
/// and a config that trusts nginx's X-Forwarded-For (as docs/deploy.md says), so the server's
/// own per-client limit applies to the test's address, not to nginx's.
fn replicas_workspace() -> Workspace {
    let env = Workspace::with_seed_corpus();
    copy_tree(&shared_seed_env().index_dir(), &env.index_dir());
    env.write_config("[http]\ntrusted_proxies = [\"127.0.0.1\"]\n");
    env
}

async fn start_replica(config: PathBuf, port: u16, api_base: String) -> Replica {
    tokio::task::spawn_blocking(move || Replica::start(&config, port, &api_base))
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

async fn start_nginx(ports: Vec<u16>) -> Nginx {
    tokio::task::spawn_blocking(move || Nginx::start(&ports))
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

// ---------------------------------------------------------------------------------------------
// The tests through nginx

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interaction_is_answered_while_a_replica_is_killed_and_restarted() {
    let Some(interactions) = load_interactions(LOAD_INTERACTIONS) else {
        return;
    };
    let discord = FakeDiscord::start().await;
    let env = replicas_workspace();
    let survivor = start_replica(env.config_path(), 0, discord.api_base()).await;
    let mut victim = start_replica(env.config_path(), 0, discord.api_base()).await;
    let victim_port = victim.port;
    let nginx = start_nginx(vec![survivor.port, victim_port]).await;
    let url = nginx.url("/interactions");
    let client = http_client();

    let completed = AtomicUsize::new(0);
    // The last third is only sent once the killed replica is back, so the run covers all
    // three phases: both replicas, one killed mid-flight, the restarted one rejoining.
    let (restarted_tx, restarted_rx) = tokio::sync::watch::channel(false);
    let kill_at = LOAD_INTERACTIONS / 3;
    let after_restart_from = 2 * LOAD_INTERACTIONS / 3;

    let started = Instant::now();
    let load = futures_util::stream::iter(interactions.into_iter().enumerate())
        .map(|(index, interaction)| {
            let (client, url, completed) = (&client, &url, &completed);
            let mut restarted = restarted_rx.clone();
            async move {
                if index >= after_restart_from {
                    restarted
                        .wait_for(|done| *done)
                        .await
                        .expect("the restart task reports");
                }
                let outcome = send_interaction(client, url, interaction).await;
                completed.fetch_add(1, Ordering::SeqCst);
                outcome
            }
        })
        .buffer_unordered(LOAD_CONCURRENCY)
        .collect::<Vec<Outcome>>();
    let chaos = async {
        while completed.load(Ordering::SeqCst) < kill_at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        victim.kill();
        let killed_after = started.elapsed();
        let back = start_replica(env.config_path(), victim_port, discord.api_base()).await;
        let restarted_after = started.elapsed();
        restarted_tx.send_replace(true);
        (back, killed_after, restarted_after)
    };
    let (outcomes, (restarted, killed_after, restarted_after)) = tokio::join!(load, chaos);
    let elapsed = started.elapsed();

    let problems: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| {
            outcome
                .problem
                .as_ref()
                .map(|problem| format!("{:?}: {problem}", outcome.interaction))
        })
        .collect();

    // Deferred answers arrive later, as webhook edits of the original response.
    let deferred_tokens: Vec<String> = outcomes
        .iter()
        .filter(|outcome| outcome.deferred)
        .map(|outcome| outcome.interaction.token())
        .collect();
    let edited = |token: &str| {
        let path = format!("/api/v10/webhooks/{APPLICATION_ID}/{token}/messages/@original");
        discord
            .requests()
            .iter()
            .any(|request| request.method == "PATCH" && request.path == path)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut never_edited: Vec<&String> = deferred_tokens.iter().filter(|t| !edited(t)).collect();
    while !never_edited.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        never_edited.retain(|token| !edited(token));
    }

    let mut latencies: Vec<Duration> = outcomes.iter().map(|outcome| outcome.latency).collect();
    latencies.sort();
    let access_log = nginx.access_log();
    // A request nginx passed to a second replica lists both: "upstream=A, B".
    let retried = access_log
        .lines()
        .filter(|line| line.contains("/interactions") && line.contains(", "))
        .count();
    let served_by_restarted = access_log
        .lines()
        .rev()
        .take(LOAD_INTERACTIONS - after_restart_from)
        .filter(|line| last_upstream_is(line, victim_port))
        .count();
    eprintln!(
        "serve_cluster load: {LOAD_INTERACTIONS} interactions at concurrency {LOAD_CONCURRENCY} \
         in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         replica killed at {:.2} s, back at {:.2} s; {retried} passed on to the other replica \
         by nginx; {} deferred (type 5), {} of them never edited; the restarted replica served \
         {served_by_restarted} of the last {}",
        elapsed.as_secs_f64(),
        LOAD_INTERACTIONS as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        killed_after.as_secs_f64(),
        restarted_after.as_secs_f64(),
        deferred_tokens.len(),
        never_edited.len(),
        LOAD_INTERACTIONS - after_restart_from,
    );

    assert_eq!(
        outcomes.len(),
        LOAD_INTERACTIONS,
        "every interaction was sent"
    );
    assert!(
        problems.is_empty(),
        "{} of {LOAD_INTERACTIONS} interactions were not answered, e.g.:\n{}\n\nnginx:\n{}\n\
         surviving replica:\n{}\nrestarted replica:\n{}",
        problems.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        common::truncate(&nginx.logs(), 3000),
        common::truncate(&survivor.log(), 3000),
        common::truncate(&restarted.log(), 3000),
    );
    // Only an answer deferred by the replica that was killed can miss its edit: at most the
    // interactions in flight at that moment.
    assert!(
        never_edited.len() <= LOAD_CONCURRENCY,
        "{} deferred answers were never edited (more than were in flight at the kill): {:?}",
        never_edited.len(),
        never_edited.iter().take(5).collect::<Vec<_>>()
    );
    let health = client
        .get(format!("http://127.0.0.1:{victim_port}/healthz"))
        .send()
        .await
        .expect("the restarted replica answers /healthz");
    assert_eq!(
        health.status().as_u16(),
        200,
        "the restarted replica is healthy"
    );
    drop(victim);
}

/// Whether the last replica nginx tried for an access log line (`upstream=A, B`) is the one
/// on `port`.
fn last_upstream_is(line: &str, port: u16) -> bool {
    line.split(" upstream=")
        .nth(1)
        .and_then(|rest| rest.split(" upstream_status=").next())
        .and_then(|addresses| addresses.rsplit(", ").next())
        .is_some_and(|last| last == format!("127.0.0.1:{port}"))
}

/// Sends `count` requests made by `request`, `concurrency` at a time, and returns each one's
/// status and body.
async fn burst(
    count: usize,
    concurrency: usize,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Vec<(u16, String)> {
    futures_util::stream::iter((0..count).map(|_| request()))
        .map(|builder| async move {
            match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.text().await.unwrap_or_default())
                }
                Err(error) => (0, error.to_string()),
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_is_rate_limited_per_address_and_interactions_are_not() {
    let discord = FakeDiscord::start().await;
    let env = replicas_workspace();
    let replica = start_replica(env.config_path(), 0, discord.api_base()).await;
    let nginx = start_nginx(vec![replica.port]).await;
    let client = http_client();

    // A reference lookup costs the replica next to nothing, so the burst outruns nginx's
    // 10 requests a second however loaded the machine is (a search each taking 100 ms or
    // more at concurrency 10 would not).
    let search_url = nginx.url("/v1/refs/15");
    let searches = burst(100, 20, || client.get(&search_url)).await;
    let ok = searches.iter().filter(|(status, _)| *status == 200).count();
    let limited: Vec<&String> = searches
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, body)| body)
        .collect();
    let other: Vec<&(u16, String)> = searches
        .iter()
        .filter(|(status, _)| ![200, 429].contains(status))
        .collect();
    eprintln!(
        "serve_cluster rate limit: 100 API requests at concurrency 20: {ok} answered, {} limited",
        limited.len()
    );
    assert!(other.is_empty(), "only 200 or 429 expected: {other:?}");
    assert!(ok >= 1, "the first searches of a burst are answered");
    assert!(
        !limited.is_empty(),
        "a burst of 100 API requests from one address should meet the rate limit"
    );
    // nginx's own refusal (deploy/nginx.conf), not the server's, which says "this address".
    let limited_body: Value = serde_json::from_str(limited[0]).expect("429 body is JSON");
    assert!(
        limited_body["error"]
            .as_str()
            .is_some_and(|error| error.contains("too many requests from your address")),
        "nginx's 429 says what happened: {limited_body}"
    );

    let interactions_url = nginx.url("/interactions");
    let ping = serde_json::to_vec(&Interaction::Ping { id: 1 }.body()).expect("json");
    let pings = burst(100, 10, || signed_post(&client, &interactions_url, &ping)).await;
    let not_pong: Vec<&(u16, String)> = pings
        .iter()
        .filter(|(status, body)| {
            *status != 200
                || serde_json::from_str::<Value>(body)
                    .ok()
                    .map(|b| b["type"].clone())
                    != Some(json!(1))
        })
        .collect();
    assert!(
        not_pong.is_empty(),
        "every PING of a burst is answered (no per-IP limit on /interactions): {} not, e.g. {:?}",
        not_pong.len(),
        not_pong.first()
    );
    drop(replica);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_gets_413_from_nginx() {
    let discord = FakeDiscord::start().await;
    let env = replicas_workspace();
    let replica = start_replica(env.config_path(), 0, discord.api_base()).await;
    let nginx = start_nginx(vec![replica.port]).await;
    let client = http_client();
    let url = nginx.url("/interactions");

    let too_large = vec![b' '; 1024 * 1024];
    let response = signed_post(&client, &url, &too_large)
        .send()
        .await
        .expect("nginx answers");
    assert_eq!(response.status().as_u16(), 413, "a 1 MiB body");
    let body: Value =
        serde_json::from_str(&response.text().await.unwrap_or_default()).expect("413 body is JSON");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("64 KiB")),
        "413 says the limit: {body}"
    );

    // Just under the limit, the body reaches the replica, which checks the signature first:
    // this one is unsigned.
    let under_limit = vec![b' '; 60 * 1024];
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(under_limit)
        .send()
        .await
        .expect("nginx answers");
    assert_eq!(
        response.status().as_u16(),
        401,
        "60 KiB unsigned reaches the replica and is refused there"
    );

    // A replica's counters are not served to the internet.
    let metrics = client
        .get(nginx.url("/metrics"))
        .send()
        .await
        .expect("nginx answers");
    assert_eq!(metrics.status().as_u16(), 404, "/metrics through nginx");
    drop(replica);
}
