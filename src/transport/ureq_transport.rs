//! A blocking transport over `ureq` (feature `ureq`).

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http::Request;

use super::BlockingTransport;
use crate::delivery::Outcome;

/// A [`BlockingTransport`] over a `ureq` agent: rustls, no redirects followed, connect and
/// total timeouts, and 4xx/5xx reported as responses, not errors.
///
/// ```no_run
/// use std::time::Duration;
/// use lms_webhooks::transport::{attempt_blocking, SystemClock, UreqTransport};
/// # fn demo(delivery: &mut lms_webhooks::delivery::Delivery, endpoint: &lms_webhooks::Endpoint) -> Result<(), Box<dyn std::error::Error>> {
/// let transport = UreqTransport::new(Duration::from_secs(5), Duration::from_secs(15));
/// let target = endpoint.target(lms_webhooks::Timestamp::now());
/// let next = attempt_blocking(delivery, &target, &transport, &SystemClock)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// An agent with these connect and total (whole request) timeouts.
    pub fn new(connect_timeout: Duration, total_timeout: Duration) -> UreqTransport {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(total_timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .user_agent(crate::delivery::USER_AGENT)
            .build();
        UreqTransport {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

impl Default for UreqTransport {
    /// 5 s to connect, 15 s in all.
    fn default() -> UreqTransport {
        UreqTransport::new(Duration::from_secs(5), Duration::from_secs(15))
    }
}

impl BlockingTransport for UreqTransport {
    fn send(&self, request: Request<Bytes>) -> Outcome {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.as_ref());
        match self.agent.run(request) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut excerpt = Vec::new();
                // Best effort: the log keeps the start of the body, a read error loses only that.
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(Outcome::MAX_EXCERPT as u64)
                    .read_to_end(&mut excerpt);
                let outcome = Outcome::status(status).with_body(&excerpt);
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
