//! Secrets: the Discord token comes only from the environment, never appears in `--help`,
//! errors or logs (even at trace level, even when the API echoes it back), and a token written
//! into config.toml is refused with a pointer to the right place. Through the real binary.

use citebot_test_support as common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::time::Duration;

use common::{
    assert_clear_error, assert_no_panic, citebot_command, copy_tree, run, shared_seed_env, stderr,
    stdout, Workspace,
};

/// Shaped like a real bot token (base64 id . timestamp . HMAC), unique to these tests.
const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.c1t3b0t-s3cr3t-t0k3n-d0-n0t-l3ak-xyz";

/// Parts of the token that would betray it even if cut or quoted.
const TOKEN_PARTS: [&str; 2] = ["c1t3b0t-s3cr3t", "MTIzNDU2Nzg5MDEyMzQ1Njc4"];

fn assert_no_token(output: &Output, what: &str) {
    for text in [stdout(output), stderr(output)] {
        let leaks: Vec<&str> = text
            .lines()
            .filter(|line| TOKEN_PARTS.iter().any(|part| line.contains(part)))
            .collect();
        assert!(
            leaks.is_empty(),
            "{what}: the token leaked in {} line(s), e.g.:\n{}",
            leaks.len(),
            leaks
                .iter()
                .take(3)
                .map(|line| common::truncate(line, 1500))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A command that reads config.toml and stops on a bad one (the config is checked before it
/// does anything).
const READS_CONFIG: &[&str] = &["bot"];

fn env_with_index() -> Workspace {
    let env = Workspace::with_seed_corpus();
    copy_tree(&shared_seed_env().index_dir(), &env.index_dir());
    env
}

/// Every `--help`, with the token in the environment: clap must not show it (a `#[arg(env)]`
/// would print `[env: DISCORD_TOKEN=…]`).
#[test]
fn help_never_shows_the_token() {
    let subcommands = [
        "", "ask", "search", "refs", "index", "eval", "help", "bot", "feedback",
    ];
    for subcommand in subcommands {
        let mut command = citebot_command();
        command.env("DISCORD_TOKEN", TOKEN).env("MY_TOKEN", TOKEN);
        if !subcommand.is_empty() {
            command.arg(subcommand);
        }
        let output = run(command.arg("--help"));
        assert_no_panic(&output, subcommand);
        assert_no_token(&output, &format!("{subcommand} --help"));
    }
    let output = run(citebot_command()
        .env("DISCORD_TOKEN", TOKEN)
        .arg("--version"));
    assert_no_token(&output, "--version");
}

/// The other commands never read or print the token, even with all logging on.
#[test]
fn other_commands_never_print_the_token() {
    let env = env_with_index();
    for args in [
        vec!["search", "--json", "diltiazem"],
        vec!["ask", "diltiazem"],
        vec!["refs", "15"],
        vec!["index"],
        vec!["search", "--json", TOKEN],
    ] {
        let output = run(env
            .command()
            .env("DISCORD_TOKEN", TOKEN)
            .env("CITEBOT_LOG", "trace")
            .args(&args));
        assert_no_panic(&output, &args.join(" "));
        if args.contains(&TOKEN) {
            // The user typed it into the question: echoing the question is fine.
            continue;
        }
        assert_no_token(&output, &args.join(" "));
    }
}

/// No token in the environment: one line saying which variable to set and where to get a
/// token.
#[test]
fn bot_without_a_token_says_which_variable_to_set() {
    let env = env_with_index();
    let output = run(env.command().arg("bot"));
    assert_clear_error(&output, "bot without a token", &["DISCORD_TOKEN", "export"]);

    env.write_config("[discord]\ntoken_env = \"CITEBOT_TEST_TOKEN\"\n");
    let output = run(env.command().env("DISCORD_TOKEN", TOKEN).arg("bot"));
    assert_clear_error(
        &output,
        "bot with another variable",
        &["CITEBOT_TEST_TOKEN"],
    );
    assert_no_token(&output, "bot with another variable");

    let output = run(env.command().env("CITEBOT_TEST_TOKEN", "   ").arg("bot"));
    assert_clear_error(&output, "bot with a blank token", &["CITEBOT_TEST_TOKEN"]);
}

/// A stand-in for the Discord API on loopback that answers every request with `status` and a
/// body built from the request (so it can echo the Authorization header back).
fn fake_api(status: &'static str, body: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local address: {e}"));
    std::thread::spawn(move || {
        // Bounded: a handful of requests is all a failing start-up makes.
        for stream in listener.incoming().take(64).flatten() {
            let _ = answer_once(stream, status, body);
        }
    });
    format!("http://{address}")
}

fn answer_once(
    mut stream: TcpStream,
    status: &str,
    body: fn(&str) -> String,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut request_body = vec![0; content_length];
    reader.read_exact(&mut request_body)?;
    let body = body(&head);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn authorization(head: &str) -> String {
    head.lines()
        .find(|line| line.to_ascii_lowercase().starts_with("authorization:"))
        .map(|line| line["authorization:".len()..].trim().to_string())
        .unwrap_or_default()
}

fn run_bot_against(env: &Workspace, api_base: &str) -> Output {
    run(env
        .command()
        .env("DISCORD_TOKEN", TOKEN)
        .env("CITEBOT_DISCORD_API_BASE", api_base)
        .env("CITEBOT_LOG", "trace")
        .timeout(Duration::from_secs(60))
        .arg("bot"))
}

/// Discord refuses the token: one line saying so and where to get a new one, and not the
/// token, even with trace logging of every HTTP layer.
#[test]
fn rejected_token_is_reported_without_the_token() {
    let env = env_with_index();
    let api = fake_api("401 Unauthorized", |_| {
        "{\"message\": \"401: Unauthorized\", \"code\": 0}".to_string()
    });
    let output = run_bot_against(&env, &api);
    assert_clear_error(&output, "rejected token", &["rejected", "DISCORD_TOKEN"]);
    assert_no_token(&output, "rejected token");
}

/// An API (or a misconfigured proxy in `api_base`) that echoes the Authorization header back
/// in its error: citebot must not pass it on into its own error or logs.
#[test]
fn echoed_token_is_not_repeated_in_errors_or_logs() {
    let env = env_with_index();
    for status in [
        "400 Bad Request",
        "500 Internal Server Error",
        "403 Forbidden",
    ] {
        let api = fake_api(status, |head| {
            format!(
                "{{\"message\": \"bad header {}\", \"code\": 50035}}",
                authorization(head)
            )
        });
        let output = run_bot_against(&env, &api);
        assert_no_panic(&output, status);
        assert_ne!(
            output.status.code(),
            Some(0),
            "{status}: the bot cannot start"
        );
        assert_no_token(&output, &format!("API echoing the token with {status}"));
    }
}

/// An API base nobody listens on: "cannot reach", which base, what to check; no token.
#[test]
fn unreachable_api_is_reported_without_the_token() {
    let env = env_with_index();
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    // The listener is dropped here, so the port is closed.
    let output = run_bot_against(&env, &format!("http://{closed}"));
    // A network problem, not a setting: exit status 75, "try again later" (README, Exit status).
    assert_no_panic(&output, "unreachable api");
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(75), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("citebot: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(
        errors[0].contains("cannot reach") && errors[0].contains("api_base"),
        "{stderr}"
    );
    assert_no_token(&output, "unreachable api");
}

/// A token written into config.toml is refused (every command reads the config), and the
/// refusal does not repeat it.
#[test]
fn token_in_config_is_refused_without_repeating_it() {
    let env = env_with_index();
    for extra in [
        format!("[discord]\ntoken = \"{TOKEN}\"\n"),
        format!("[discord]\nbot_token = \"{TOKEN}\"\n"),
        format!("discord_token = \"{TOKEN}\"\n"),
        format!("token = \"{TOKEN}\"\n"),
    ] {
        env.write_config(&extra);
        for args in [vec!["bot"], vec!["search", "x"]] {
            let output = run(env.command().args(&args));
            assert_clear_error(&output, &format!("{extra:?} {args:?}"), &["config.toml"]);
            assert_no_token(&output, &format!("token in config.toml ({extra:?})"));
        }
    }
}

/// …and the refusal says where the token goes instead: the environment variable.
#[test]
fn token_in_config_points_to_the_environment() {
    let env = env_with_index();
    for extra in [
        format!("[discord]\ntoken = \"{TOKEN}\"\n"),
        format!("discord_token = \"{TOKEN}\"\n"),
    ] {
        env.write_config(&extra);
        let output = run(env.command().args(READS_CONFIG));
        assert_clear_error(&output, &extra, &["DISCORD_TOKEN", "environment"]);
    }
}

/// The token pasted into `token_env` (which should hold a variable's *name*) is an easy
/// mistake: the error must not echo it back, and should say what the setting is for.
#[test]
fn token_pasted_into_token_env_is_not_echoed() {
    let env = env_with_index();
    env.write_config(&format!("[discord]\ntoken_env = \"{TOKEN}\"\n"));
    let output = run(env.command().args(READS_CONFIG));
    assert_clear_error(&output, "token in token_env", &["token_env"]);
    assert_no_token(&output, "token in token_env");
}

/// The token may also come from a file named in the config (a Docker/systemd secret), and
/// then never from the config itself.
#[test]
fn token_from_a_file_named_in_config() {
    let env = env_with_index();
    let token_file = env.root().join("discord_token");
    common::write(&token_file, format!("{TOKEN}\n").as_bytes());
    let api = fake_api("401 Unauthorized", |_| {
        "{\"message\": \"401: Unauthorized\"}".to_string()
    });
    env.write_config(&format!(
        "[discord]\ntoken_file = \"{}\"\n",
        token_file.display()
    ));
    let output = run(env
        .command()
        .env("CITEBOT_DISCORD_API_BASE", api)
        .arg("bot"));
    // The token was read (Discord, here the fake, rejected it) and not shown.
    assert_clear_error(&output, "token file", &["rejected"]);
    assert_no_token(&output, "token file");
}
