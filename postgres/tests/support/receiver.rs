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
