//! Driving the `webhook` CLI from outside, as users script it: the binary, a run with a body
//! on stdin, and loopback servers that answer from a script.

#![allow(dead_code)] // each test binary uses its own part

#[path = "../../examples/support/inbound.rs"]
mod inbound;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};

/// The example binary. `cargo test` builds the examples before it runs the tests; building it
/// here only happens when the test binary runs on its own.
pub fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // tests live in target/<profile>/deps; examples in target/<profile>/examples.
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().join("examples");
        let path = dir.join(format!("webhook{}", std::env::consts::EXE_SUFFIX));
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--example", "webhook"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the webhook example failed");
        }
        assert!(path.exists(), "{} not found", path.display());
        path
    })
}

pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The CLI may exit on bad flags before it reads the body.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A run with extra environment variables.
pub fn run_with_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

pub fn scripted_server(statuses: Vec<u16>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for status in statuses {
            let Ok(Some(request)) = server.recv_timeout(std::time::Duration::from_secs(20)) else {
                return;
            };
            let _ = request.respond(tiny_http::Response::from_string("").with_status_code(status));
        }
    });
    url
}

pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What a recording server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A loopback server that answers `statuses` in turn and reports every request it gets.
pub fn recording_server(statuses: Vec<u16>) -> (String, mpsc::Receiver<Seen>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let Ok(Some(mut request)) = server.recv_timeout(std::time::Duration::from_secs(20))
            else {
                return;
            };
            let (headers, body) = inbound::read(&mut request);
            let _ = tx.send(Seen {
                path: request.url().to_owned(),
                headers,
                body,
            });
            let _ = request.respond(tiny_http::Response::from_string("").with_status_code(status));
        }
    });
    (base, rx)
}
