//! A webhook receiver app: verify, deduplicate, answer 200 at once, process afterwards.
//!
//! ```text
//! WEBHOOK_SECRET=whsec_... cargo run --example receiver                 # Standard Webhooks on 127.0.0.1:8080
//! WEBHOOK_PROFILE=learnybox WEBHOOK_KEY=... cargo run --example receiver
//! WEBHOOK_ADDR=127.0.0.1:9000 cargo run --example receiver -- --requests 10   # stop after 10
//! ```
//!
//! Then send it something with `webhook send --url http://127.0.0.1:8080/ --allow-http
//! --allow-private ...`. Profiles: standard, learnybox, learnworlds, learnink, learnomy.

#[path = "support/inbound.rs"]
mod inbound;
#[path = "support/settings.rs"]
mod settings;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
use lms_webhooks::receiver::Received;
use lms_webhooks::Timestamp;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (receiver, addr) = settings::from_env()?;
    let limit: Option<usize> = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [flag, n] if flag == "--requests" => Some(n.parse()?),
        [] => None,
        _ => return Err("usage: receiver [--requests N]".into()),
    };
    let server = tiny_http::Server::http(&addr).map_err(|e| e.to_string())?;
    println!(
        "listening on http://{addr}/ ({} profile)",
        receiver.profile().name()
    );

    // The work happens on another thread, after the sender got its 200.
    let (work_tx, work_rx) = mpsc::channel::<Received>();
    let worker = thread::spawn(move || {
        for event in work_rx {
            println!(
                "processed {} {} (occurred {}, delivered {})",
                event.event.type_str(),
                event.id,
                event.occurred_at,
                event.delivered_at.map_or("-".to_owned(), |t| t.to_string())
            );
        }
    });

    let seen = MemoryDeduplicator::new(100_000, Duration::from_secs(7 * 86_400));
    for (handled, mut request) in server.incoming_requests().enumerate() {
        let (headers, body) = inbound::read(&mut request);
        let scope = receiver.profile().name();
        let lease = Duration::from_secs(60);
        let status = match receiver.receive(Timestamp::now(), &headers, &body) {
            // Claim the id, record the event (here: queue it), and commit only once it is
            // recorded; had that failed, release it, so that the sender's retry gets through.
            Ok(got) => match seen.claim(Timestamp::now(), scope, &got.id, lease) {
                Claim::Claimed(token) => {
                    let id = got.id.clone();
                    match work_tx.send(got) {
                        Ok(()) => {
                            seen.commit(Timestamp::now(), scope, &id, token);
                            200
                        }
                        Err(_) => {
                            seen.release(Timestamp::now(), scope, &id, token);
                            503
                        }
                    }
                }
                Claim::InProgress { .. } => 409,
                _ => {
                    println!("duplicate {} ignored", got.id);
                    200
                }
            },
            Err(e) => {
                println!("refused: {e}");
                e.http_status().as_u16()
            }
        };
        let _ = request.respond(tiny_http::Response::empty(status));
        if limit.is_some_and(|n| handled + 1 >= n) {
            break;
        }
    }
    drop(work_tx);
    let _ = worker.join();
    Ok(())
}
