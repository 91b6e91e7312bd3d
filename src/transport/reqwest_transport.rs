//! An async transport over `reqwest` (feature `reqwest`).

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;

use super::resolve::{resolve, Lookup, ResolveError};
use super::Transport;
use crate::delivery::Outcome;
use crate::endpoint::UrlPolicy;

/// A [`Transport`] over a `reqwest` client (rustls), safe to point at URLs users typed in:
///
/// - the [`UrlPolicy`] (strict by default: https, public addresses) applies to the URL and to
///   **every address its name resolves to**, in the resolver the client connects with, so a
///   name rebound to `127.0.0.1` is a failed attempt (`refused: 127.0.0.1 is a loopback
///   address`), and there is no second lookup between the check and the connection;
/// - the URL is checked as the policy reads it (`http`'s parser) and, when reqwest's own parser
///   (the `url` crate's, WHATWG) reads its host as an address, that address is checked too: a
///   URL the two parsers read differently never reaches a refused address;
/// - no redirect is followed (a 3xx is a failed attempt); connect and total timeouts, the total
///   one covering the response body;
/// - at most [`Outcome::MAX_EXCERPT`] bytes of the response are read, then the connection is
///   dropped: an endless or dripping body costs one bounded attempt;
/// - proxies from the environment are ignored unless
///   [`with_env_proxy`](ReqwestTransport::with_env_proxy) opts in.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use lms_webhooks::delivery::Outcome;
/// use lms_webhooks::transport::{tokio_sleep, Driver, Finished, ReqwestTransport, SystemClock};
/// use lms_webhooks::{Endpoint, Envelope, Event, EventType, Registry, Timestamp, UrlPolicy};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
///     runtime.block_on(send())
/// }
///
/// async fn send() -> Result<(), Box<dyn std::error::Error>> {
///     let now = Timestamp::now();
///     let (crm, _secret) =
///         Endpoint::create(now, "ep_crm", "https://crm.example.com/in", &UrlPolicy::new())?;
///     let registry = std::sync::Mutex::new(Registry::new());
///     registry.lock().unwrap().add(crm)?;
///
///     let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
///     let out = lms_webhooks::endpoint::fan_out(now, &sale, registry.lock().unwrap().endpoints())?;
///     let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))?;
///     let driver = Driver::new(&registry, &transport, &SystemClock);
///     for mut delivery in out.deliveries {
///         // Runs it to the end, sleeping until each retry; store it after every attempt.
///         let end = driver.run(&mut delivery, tokio_sleep, |d, _next| { let _ = d.to_json(); }).await?;
///         println!("{}: {end:?}", delivery.endpoint_id());
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    policy: UrlPolicy,
    lookup: Lookup,
    connect_timeout: Duration,
    total_timeout: Duration,
    env_proxy: bool,
}

/// The client could not be built (its TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

impl ReqwestTransport {
    /// A transport with these connect and total (whole request, body included) timeouts and
    /// the strict default [`UrlPolicy`].
    pub fn new(
        connect_timeout: Duration,
        total_timeout: Duration,
    ) -> Result<ReqwestTransport, ClientError> {
        ReqwestTransport::build(
            UrlPolicy::new(),
            Lookup::system(),
            connect_timeout,
            total_timeout,
            false,
        )
    }

    /// Applies `policy` to URLs and resolved addresses (e.g. one that allows http and private
    /// addresses, for tests on loopback).
    pub fn with_policy(self, policy: UrlPolicy) -> Result<ReqwestTransport, ClientError> {
        let Self {
            lookup,
            connect_timeout,
            total_timeout,
            env_proxy,
            ..
        } = self;
        ReqwestTransport::build(policy, lookup, connect_timeout, total_timeout, env_proxy)
    }

    /// Looks names up with `lookup` (e.g. with fixed entries, as curl's `--resolve`).
    pub fn with_lookup(self, lookup: Lookup) -> Result<ReqwestTransport, ClientError> {
        let Self {
            policy,
            connect_timeout,
            total_timeout,
            env_proxy,
            ..
        } = self;
        ReqwestTransport::build(policy, lookup, connect_timeout, total_timeout, env_proxy)
    }

    /// Uses the proxies the environment names. The proxy then connects to the endpoint, and the
    /// policy applies to the URL and to the proxy's own address: allow a private proxy with
    /// [`UrlPolicy::with_allowed_ip`].
    pub fn with_env_proxy(self, enabled: bool) -> Result<ReqwestTransport, ClientError> {
        let Self {
            policy,
            lookup,
            connect_timeout,
            total_timeout,
            ..
        } = self;
        ReqwestTransport::build(policy, lookup, connect_timeout, total_timeout, enabled)
    }

    /// The policy in force.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    fn build(
        policy: UrlPolicy,
        lookup: Lookup,
        connect_timeout: Duration,
        total_timeout: Duration,
        env_proxy: bool,
    ) -> Result<ReqwestTransport, ClientError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(total_timeout)
            .user_agent(crate::delivery::USER_AGENT)
            .dns_resolver(Arc::new(PolicyResolve {
                policy: policy.clone(),
                lookup: lookup.clone(),
            }));
        if !env_proxy {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| ClientError(e.to_string()))?;
        Ok(ReqwestTransport {
            client,
            policy,
            lookup,
            connect_timeout,
            total_timeout,
            env_proxy,
        })
    }
}

/// The resolver the client connects with: only addresses the policy allows. (Address
/// literals never reach a resolver; `send` checks them first.)
struct PolicyResolve {
    policy: UrlPolicy,
    lookup: Lookup,
}

impl reqwest::dns::Resolve for PolicyResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // `getaddrinfo` blocks: off the async threads. Port 0: reqwest puts the URL's.
            let found =
                tokio::task::spawn_blocking(move || resolve(&policy, &lookup, &host, 0, None))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs =
                found.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The message for a failed request: our resolver's refusal as it is, otherwise reqwest's
/// error and its causes.
fn message(e: &reqwest::Error) -> String {
    let mut source = e.source();
    let mut chain = e.to_string();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<ResolveError>() {
            return refused.to_string();
        }
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// The URL as reqwest reads it (the WHATWG parser of the `url` crate, where the policy read
/// it with `http`'s): when that reading is an address literal, the policy checks that address.
/// Names need nothing more: every address reqwest connects to by name comes from the policy's
/// resolver. So a URL the two parsers read differently (a host one of them decodes to an
/// address) can never reach an address the policy refuses.
fn check_literal(policy: &UrlPolicy, url: &reqwest::Url) -> Result<(), crate::endpoint::UrlError> {
    let host = url.host_str().unwrap_or_default();
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match literal.unwrap_or(host).parse::<std::net::IpAddr>() {
        Ok(addr) => policy.check_addr(addr),
        Err(_) => Ok(()),
    }
}

impl Transport for ReqwestTransport {
    async fn send(&self, request: Request<Bytes>) -> Outcome {
        if let Err(e) = self.policy.check(&request.uri().to_string()) {
            return Outcome::error(format!("refused: {e}"));
        }
        let request = match reqwest::Request::try_from(request) {
            Ok(request) => request,
            Err(e) => return Outcome::error(message(&e)),
        };
        if let Err(e) = check_literal(&self.policy, request.url()) {
            return Outcome::error(format!("refused: {e}"));
        }
        let mut response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Outcome::Timeout,
            Err(e) => return Outcome::error(message(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The start of the body for the log, then the response is dropped, and with it the
        // connection: an endless body is never read to its end. A read error (a timeout on a
        // dripping body) loses only the excerpt.
        let mut excerpt = Vec::new();
        while excerpt.len() < Outcome::MAX_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(Outcome::MAX_EXCERPT);
        Outcome::response(status, retry_after.as_deref(), &excerpt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_literal_is_checked_as_reqwest_reads_it() {
        let policy = UrlPolicy::new().with_http_allowed(true);
        // The WHATWG parser reads the hex, the short and the whole-number forms as 127.0.0.1.
        for url in [
            "http://127.0.0.1/",
            "http://0x7f.1/",
            "http://2130706433:8080/",
            "http://[::1]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert!(check_literal(&policy, &parsed).is_err(), "{url} passed");
        }
        for url in [
            "https://crm.example.com/in",
            "http://8.8.8.8/",
            "http://[2001:4860:4860::8888]/",
        ] {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert!(check_literal(&policy, &parsed).is_ok(), "{url} refused");
        }
    }
}
