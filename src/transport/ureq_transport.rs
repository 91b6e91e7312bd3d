//! A blocking transport over `ureq` (feature `ureq`).

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::resolve::{resolve, Lookup};
use super::BlockingTransport;
use crate::delivery::Outcome;
use crate::endpoint::UrlPolicy;

/// A [`BlockingTransport`] over a `ureq` agent, safe to point at URLs users typed in:
///
/// - the [`UrlPolicy`] (strict by default: https, public addresses) applies to the URL and to
///   **every address its name resolves to**, in the resolver the connection uses, so a name
///   rebound to `127.0.0.1` is refused (a failed attempt: `refused: 127.0.0.1 is a loopback
///   address`) and nothing is looked up twice;
/// - no redirect is followed (a 3xx is a failed attempt), rustls, connect and total timeouts;
/// - at most [`Outcome::MAX_EXCERPT`] bytes of the response are read, then the connection is
///   dropped, so an endless or dripping body costs one bounded attempt;
/// - proxies from the environment (`HTTPS_PROXY`, …) are ignored unless
///   [`with_env_proxy`](UreqTransport::with_env_proxy) opts in.
///
/// # Examples
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
    policy: UrlPolicy,
    lookup: Lookup,
    connect_timeout: Duration,
    total_timeout: Duration,
    env_proxy: bool,
}

impl UreqTransport {
    /// A transport with these connect and total (whole request) timeouts and the strict
    /// default [`UrlPolicy`].
    pub fn new(connect_timeout: Duration, total_timeout: Duration) -> UreqTransport {
        UreqTransport {
            agent: ureq::Agent::new_with_defaults(),
            policy: UrlPolicy::new(),
            lookup: Lookup::system(),
            connect_timeout,
            total_timeout,
            env_proxy: false,
        }
        .rebuilt()
    }

    /// Applies `policy` to URLs and resolved addresses (e.g. one that allows http and private
    /// addresses, for tests on loopback).
    #[must_use]
    pub fn with_policy(mut self, policy: UrlPolicy) -> UreqTransport {
        self.policy = policy;
        self.rebuilt()
    }

    /// Looks names up with `lookup` (e.g. with fixed entries, as curl's `--resolve`).
    #[must_use]
    pub fn with_lookup(mut self, lookup: Lookup) -> UreqTransport {
        self.lookup = lookup;
        self.rebuilt()
    }

    /// Uses the proxy named by the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, …).
    /// The proxy then connects to the endpoint, and the policy applies to the URL and to the
    /// proxy's own address: allow a private proxy with [`UrlPolicy::with_allowed_ip`].
    #[must_use]
    pub fn with_env_proxy(mut self, enabled: bool) -> UreqTransport {
        self.env_proxy = enabled;
        self.rebuilt()
    }

    /// The policy in force.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    fn rebuilt(mut self) -> UreqTransport {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.total_timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .proxy(if self.env_proxy {
                ureq::Proxy::try_from_env()
            } else {
                None
            })
            .user_agent(crate::delivery::USER_AGENT)
            .build();
        let resolver = PolicyResolver {
            policy: self.policy.clone(),
            lookup: self.lookup.clone(),
        };
        self.agent = ureq::Agent::with_parts(config, DefaultConnector::default(), resolver);
        self
    }
}

impl Default for UreqTransport {
    /// 5 s to connect, 15 s in all, the strict policy.
    fn default() -> UreqTransport {
        UreqTransport::new(Duration::from_secs(5), Duration::from_secs(15))
    }
}

/// The resolver the agent connects with: only addresses the policy allows.
#[derive(Debug)]
struct PolicyResolver {
    policy: UrlPolicy,
    lookup: Lookup,
}

impl Resolver for PolicyResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        _config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let limit = (!timeout.after.is_not_happening()).then(|| *timeout.after);
        let addrs = resolve(&self.policy, &self.lookup, host, port, limit).map_err(|e| {
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                e.to_string(),
            ))
        })?;
        let mut out = DefaultResolver::default().empty();
        // ureq keeps at most 16 addresses.
        for addr in addrs.into_iter().take(16) {
            out.push(addr);
        }
        Ok(out)
    }
}

impl BlockingTransport for UreqTransport {
    fn send(&self, request: Request<Bytes>) -> Outcome {
        if let Err(e) = self.policy.check(&request.uri().to_string()) {
            return Outcome::error(format!("refused: {e}"));
        }
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
                // The log keeps the start of the body; a read error (a timeout on a dripping
                // body, say) loses only that. The rest is never read: dropping the response
                // closes the connection.
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(Outcome::MAX_EXCERPT as u64)
                    .read_to_end(&mut excerpt);
                Outcome::response(status, retry_after.as_deref(), &excerpt)
            }
            Err(ureq::Error::Timeout(_)) => Outcome::Timeout,
            Err(ureq::Error::Io(e)) => Outcome::error(e.to_string()),
            Err(e) => Outcome::error(e.to_string()),
        }
    }
}
