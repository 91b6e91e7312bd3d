//! A blocking `ureq` transport shared by the examples. The library's own adapter sits behind
//! the `ureq` feature, which `cargo run --example` does not turn on.

use std::io::Read;
use std::time::Duration;

use lms_webhooks::delivery::Outcome;
use lms_webhooks::transport::BlockingTransport;

/// No redirects, 4xx/5xx as responses, bounded time.
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// An agent that gives up after `timeout`.
    pub fn new(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

impl BlockingTransport for Http {
    fn send(&self, request: http::Request<bytes::Bytes>) -> Outcome {
        let (parts, body) = request.into_parts();
        match self
            .agent
            .run(http::Request::from_parts(parts, body.as_ref()))
        {
            Ok(mut response) => {
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut excerpt = Vec::new();
                // Best effort: only the log's excerpt is lost on a read error.
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(Outcome::MAX_EXCERPT as u64)
                    .read_to_end(&mut excerpt);
                let outcome = Outcome::status(response.status().as_u16()).with_body(&excerpt);
                match retry_after {
                    Some(value) => outcome.with_retry_after(value),
                    None => outcome,
                }
            }
            Err(ureq::Error::Timeout(_)) => Outcome::Timeout,
            Err(e) => Outcome::error(e.to_string()),
        }
    }
}
