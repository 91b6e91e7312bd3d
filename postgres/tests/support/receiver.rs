//! Receivers on loopback for the tests.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};

/// A receiver on loopback that answers the first request 500 and every later one 200, and
/// keeps the `webhook-signature` of each: its URL, and the signatures as they arrive.
pub fn refusing_once() -> (String, Arc<Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let signatures = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&signatures);
    std::thread::spawn(move || {
        for (n, request) in server.incoming_requests().enumerate() {
            if let Some(h) = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("webhook-signature"))
            {
                seen.lock().unwrap().push(h.value.as_str().to_owned());
            }
            let status = if n == 0 { 500 } else { 200 };
            let _ = request.respond(tiny_http::Response::empty(status));
        }
    });
    (url, signatures)
}

/// Requests as a receiver got them: each one's headers and body.
pub type Requests = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A receiver on loopback that answers each request with `answer()` (status, body) and keeps
/// every request: its URL, and the requests as they arrive.
pub fn recording(answer: impl Fn() -> (u16, &'static str) + Send + 'static) -> (String, Requests) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let headers = request
                .headers()
                .iter()
                .map(|h| (h.field.to_string(), h.value.to_string()))
                .collect();
            let mut bytes = Vec::new();
            let _ = request.as_reader().read_to_end(&mut bytes);
            keep.lock().unwrap().push((headers, bytes));
            let (status, body) = answer();
            let _ =
                request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
    (url, seen)
}
