//! A fake Wikipedia on 127.0.0.1 for tests of `citebot add` and `citebot refresh`: it serves
//! MediaWiki REST API answers (`/w/rest.php/v1/page/{title}/bare`,
//! `/w/rest.php/v1/revision/{id}/html`) from the recorded fixtures in
//! `tests/fixtures/wikipedia/`, counts every request, and can misbehave on purpose (404, a
//! redirect, 429 with Retry-After, a stall, a body cut short).
//!
//! It speaks just enough HTTP/1.1 by hand, on purpose: a real server framework would not send
//! a body shorter than its Content-Length, which is one of the faults under test. One
//! request per connection (`Connection: close`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake answers on one path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a body and its content type.
    Ok {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Any status with a JSON body (MediaWiki's error objects).
    Status { status: u16, body: String },
    /// A redirect to another path on this server, as the REST API answers a redirect page.
    Redirect { status: u16, location: String },
    /// 429 Too Many Requests with `Retry-After: seconds` for the first `times` requests,
    /// then `then`.
    TooMany {
        retry_after: u64,
        times: usize,
        then: Box<Reply>,
    },
    /// Waits this long before answering `then` (longer than the client's timeout: a stall).
    Stall { wait: Duration, then: Box<Reply> },
    /// Declares the whole body's length but sends only `sent` bytes of it, then closes.
    Truncated { body: Vec<u8>, sent: usize },
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Reply>,
    /// Every request's path, in order.
    requests: Vec<String>,
    /// How often each `TooMany` route has answered 429.
    refused: HashMap<String, usize>,
}

/// The fake, serving until dropped (its thread ends with the test process).
pub struct FakeWikipedia {
    origin: String,
    state: Arc<Mutex<State>>,
}

/// The folder of the recorded answers.
pub fn fixtures() -> PathBuf {
    crate::repo_root().join("tests/fixtures/wikipedia")
}

/// A fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name))
        .unwrap_or_else(|error| panic!("fixture {name} must be readable: {error}"))
}

pub fn bare_path(key: &str) -> String {
    format!("/w/rest.php/v1/page/{key}/bare")
}

pub fn html_path(revision: u64) -> String {
    format!("/w/rest.php/v1/revision/{revision}/html")
}

/// 200 with the JSON fixture `name`.
pub fn json_fixture(name: &str) -> Reply {
    Reply::Ok {
        content_type: "application/json",
        body: fixture(name),
    }
}

/// 200 with the HTML fixture `name`, as Parsoid's content type says.
pub fn html_fixture(name: &str) -> Reply {
    Reply::Ok {
        content_type:
            "text/html; charset=utf-8; profile=\"https://www.mediawiki.org/wiki/Specs/HTML/2.8.0\"",
        body: fixture(name),
    }
}

/// The revision id a bare fixture names as the latest.
pub fn latest_revision(bare_fixture: &str) -> u64 {
    let value: serde_json::Value =
        serde_json::from_slice(&fixture(bare_fixture)).expect("bare fixtures are JSON");
    value["latest"]["id"].as_u64().expect("latest.id")
}

impl FakeWikipedia {
    /// Starts the fake with no routes (every path answers 404 as the REST API does).
    pub fn start() -> FakeWikipedia {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let origin = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeWikipedia { origin, state }
    }

    /// A fake serving the page `key` whose latest revision is the bare fixture's, with that
    /// revision's HTML fixture.
    pub fn with_page(key: &str, bare_fixture: &str, html_fixture_name: &str) -> FakeWikipedia {
        let fake = FakeWikipedia::start();
        fake.serve_page(key, bare_fixture, html_fixture_name);
        fake
    }

    /// Serves (or replaces) a page's metadata and its latest revision's HTML.
    pub fn serve_page(&self, key: &str, bare_fixture: &str, html_fixture_name: &str) {
        self.route(&bare_path(key), json_fixture(bare_fixture));
        self.route(
            &html_path(latest_revision(bare_fixture)),
            html_fixture(html_fixture_name),
        );
    }

    /// Sets what `path` answers.
    pub fn route(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), reply);
    }

    /// `http://127.0.0.1:PORT`, for wikipedia.origin or CITEBOT_WIKIPEDIA_API_BASE.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every request's path so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(clone) => clone,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Headers up to the blank line; a GET has no body.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let reply = {
        let mut state = state.lock().unwrap();
        state.requests.push(path.clone());
        let route = state.routes.get(&path).cloned();
        match route {
            Some(Reply::TooMany {
                retry_after,
                times,
                then,
            }) => {
                let refused = state.refused.entry(path.clone()).or_insert(0);
                if *refused < times {
                    *refused += 1;
                    Reply::Status {
                        status: 429,
                        body: format!("retry-after:{retry_after}"),
                    }
                } else {
                    *then
                }
            }
            Some(reply) => reply,
            None => Reply::Status {
                status: 404,
                body: r#"{"messageTranslations":{"en":"The specified title does not exist"},"httpCode":404,"httpReason":"Not Found"}"#.to_string(),
            },
        }
    };
    respond(stream, reply);
}

fn respond(mut stream: TcpStream, reply: Reply) {
    let write = |stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]| {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
    };
    match reply {
        Reply::Ok { content_type, body } => write(
            &mut stream,
            200,
            &[
                ("Content-Type", content_type.to_string()),
                ("Content-Length", body.len().to_string()),
            ],
            &body,
        ),
        Reply::Status { status, body } => {
            let mut headers = vec![
                ("Content-Type", "application/json".to_string()),
                ("Content-Length", body.len().to_string()),
            ];
            if let Some(seconds) = body.strip_prefix("retry-after:") {
                headers.push(("Retry-After", seconds.to_string()));
            }
            write(&mut stream, status, &headers, body.as_bytes())
        }
        Reply::Redirect { status, location } => write(
            &mut stream,
            status,
            &[("Location", location), ("Content-Length", "0".to_string())],
            b"",
        ),
        Reply::TooMany { .. } => unreachable!("resolved in serve"),
        Reply::Stall { wait, then } => {
            std::thread::sleep(wait);
            respond(stream, *then);
        }
        Reply::Truncated { body, sent } => write(
            &mut stream,
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8".to_string()),
                ("Content-Length", body.len().to_string()),
            ],
            &body[..sent.min(body.len())],
        ),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
