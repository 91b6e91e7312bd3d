//! Name resolution that applies the URL policy where the connection is made.
//!
//! A delivery URL's name was checked when the endpoint was saved, but a name can resolve to
//! anything, and to something else a minute later (DNS rebinding): `rebind.example.com` may
//! point at `127.0.0.1` by the time a retry is sent. The transports of this crate therefore
//! resolve names themselves, keep only the addresses the [`UrlPolicy`] allows, and connect to
//! those: there is no second lookup between the check and the connection. A name whose
//! addresses are all refused is a failed attempt ([`ResolveError::Refused`]), recorded and
//! retried like any other.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use crate::endpoint::{UrlError, UrlPolicy};
use crate::text::clip;

/// Where names are looked up: the system resolver, with fixed entries that take precedence
/// (as curl's `--resolve host:port:address`), for tests on loopback and for hosts that pin
/// names. Fixed addresses are checked by the policy like resolved ones.
///
/// # Examples
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use lms_webhooks::endpoint::UrlPolicy;
/// use lms_webhooks::transport::{resolve, Lookup, ResolveError};
///
/// let rebinding = Lookup::system()
///     .with_fixed("rebind.example.com", 443, IpAddr::V4(Ipv4Addr::LOCALHOST));
/// let refused = resolve(&UrlPolicy::new(), &rebinding, "rebind.example.com", 443, None);
/// let e = refused.unwrap_err();
/// assert!(matches!(e, ResolveError::Refused { .. }));
/// assert_eq!(e.to_string(), "refused: 127.0.0.1 is a loopback address");
///
/// let tests = UrlPolicy::new().with_private_allowed(true);
/// let addrs = resolve(&tests, &rebinding, "rebind.example.com", 443, None)?;
/// assert_eq!(addrs, ["127.0.0.1:443".parse()?]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    fixed: Vec<(String, u16, IpAddr)>,
}

impl Lookup {
    /// The system resolver (`getaddrinfo`), with no fixed entries.
    pub fn system() -> Lookup {
        Lookup::default()
    }

    /// Answers `host:port` with `addr` instead of asking the system resolver.
    #[must_use]
    pub fn with_fixed(mut self, host: &str, port: u16, addr: IpAddr) -> Lookup {
        self.fixed.push((normalize(host), port, addr));
        self
    }

    /// The addresses of `host:port`: the fixed ones if any, or the system resolver's, which is
    /// given at most `timeout` (the lookup then goes on in a thread of its own and its answer
    /// is dropped). Port 0 stands for any port (for clients that add the port themselves):
    /// it matches every fixed entry of the host.
    pub fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let name = normalize(host);
        let fixed: Vec<SocketAddr> = self
            .fixed
            .iter()
            .filter(|(h, p, _)| *h == name && (*p == port || port == 0))
            .map(|&(_, _, addr)| SocketAddr::new(addr, port))
            .collect();
        if !fixed.is_empty() {
            return Ok(fixed);
        }
        let failed = |message: String| ResolveError::Lookup {
            host: clip(host, 200),
            message: clip(&message, 200),
        };
        let target = (name, port);
        let found = match timeout {
            None => target.to_socket_addrs().map(Iterator::collect),
            Some(limit) => {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(target.to_socket_addrs().map(Iterator::collect));
                });
                rx.recv_timeout(limit)
                    .map_err(|_| failed(format!("no answer within {} ms", limit.as_millis())))?
            }
        };
        found.map_err(|e: std::io::Error| failed(e.to_string()))
    }
}

fn normalize(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Why no address could be connected to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name did not resolve.
    #[error("cannot resolve `{host}`: {message}")]
    Lookup {
        /// The host.
        host: String,
        /// What the resolver said.
        message: String,
    },
    /// Every address the name resolved to is one the policy refuses.
    #[error("refused: {}", RefusedAddr(.reason))]
    Refused {
        /// The host.
        host: String,
        /// Why the first address was refused.
        reason: UrlError,
    },
}

/// `127.0.0.1 is a loopback address`, without the backticks of [`UrlError`]'s own message.
struct RefusedAddr<'a>(&'a UrlError);

impl fmt::Display for RefusedAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            UrlError::Address { addr, class } => write!(f, "{addr} is {class}"),
            other => write!(f, "{other}"),
        }
    }
}

/// Resolves `host:port` with `lookup` and keeps the addresses `policy` allows, in the order
/// found; an address literal is checked as it is. Errs when the name does not resolve or when
/// every address is refused. Connect only to what it returns.
pub fn resolve(
    policy: &UrlPolicy,
    lookup: &Lookup,
    host: &str,
    port: u16,
    timeout: Option<Duration>,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let refused = |reason: UrlError| ResolveError::Refused {
        host: clip(host, 200),
        reason,
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        policy.check_addr(ip).map_err(refused)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found = lookup.lookup(host, port, timeout)?;
    let mut first_refusal = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|addr| match policy.check_resolved(host, &[addr.ip()]) {
            Ok(()) => true,
            Err(e) => {
                first_refusal.get_or_insert(e);
                false
            }
        })
        .collect();
    match (allowed.is_empty(), first_refusal) {
        (false, _) => Ok(allowed),
        (true, Some(reason)) => Err(refused(reason)),
        (true, None) => Err(ResolveError::Lookup {
            host: clip(host, 200),
            message: "no address".to_owned(),
        }),
    }
}
