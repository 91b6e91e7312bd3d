//! The SSRF guard on delivery URLs.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use http::Uri;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::text::clip;

/// Which delivery URLs a platform accepts: the guard against server-side request forgery.
///
/// By default a URL must be absolute `https`, carry no credentials, and name a public host:
/// literal addresses in private, loopback, link-local, unspecified, CGNAT, multicast,
/// broadcast, documentation, benchmarking and reserved ranges are refused, in IPv4 and IPv6,
/// and so are IPv6 forms that reach IPv4 hosts (IPv4-mapped and -compatible, 6to4, NAT64,
/// Teredo). IPv4 is read the way browsers and `inet_aton` read it, so `0x7f.1`, `2130706433`
/// and `017700000001` are all 127.0.0.1. `localhost` and names under `.localhost`, `.local`,
/// `.localdomain`, `.internal` and `.home.arpa`, and single-label names, are refused; with the
/// `public-suffix` feature, so is every name that does not end in a suffix of the Public
/// Suffix List with a label before it (`router.lan`, `nas.home`, `dc01.corp`,
/// `kubernetes.default.svc`). Without it such names pass this check, and only the addresses
/// they resolve to are checked (at connect time by the crate's transports, or by
/// [`UrlPolicy::check_resolved`]): turn it on wherever users type delivery URLs.
///
/// A name that passes may still resolve to a private address: hosts that resolve DNS
/// themselves pass the addresses to [`UrlPolicy::check_resolved`] before connecting, which
/// also defeats DNS rebinding.
///
/// # Examples
///
/// ```
/// use lms_webhooks::endpoint::UrlPolicy;
///
/// let policy = UrlPolicy::new();
/// assert!(policy.check("https://hooks.example.com/lms").is_ok());
/// let e = policy.check("https://0x7f.1/admin").unwrap_err();
/// assert_eq!(e.to_string(), "`127.0.0.1` is a loopback address");
/// assert!(UrlPolicy::new().with_http_allowed(true).with_private_allowed(true).check("http://127.0.0.1:8080/").is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    allow_http: bool,
    allow_private: bool,
    allowed_hosts: BTreeSet<String>,
    allowed_ips: BTreeSet<IpAddr>,
}

/// A delivery URL that passed a [`UrlPolicy`]: what endpoints and delivery targets hold.
///
/// The only way to make one is [`UrlPolicy::check`], so an unchecked URL cannot become a
/// delivery target by accident. Tests on loopback opt in explicitly with a policy that says
/// so: `UrlPolicy::new().with_http_allowed(true).with_private_allowed(true)`.
///
/// Deserializing one (a stored endpoint) checks its shape again (an absolute `http` or `https`
/// URL with a host and no control characters) but not the policy: it trusts the store, where
/// only checked URLs were written. Check again with [`UrlPolicy::check`] if the store is not
/// trusted.
///
/// # Examples
///
/// ```
/// use lms_webhooks::endpoint::UrlPolicy;
///
/// let url = UrlPolicy::new().check("https://crm.example.com/hooks?src=lms")?;
/// assert_eq!(url.as_str(), "https://crm.example.com/hooks?src=lms");
/// assert_eq!(url.host(), "crm.example.com");
/// # Ok::<(), lms_webhooks::endpoint::UrlError>(())
/// ```
#[derive(Clone)]
pub struct DeliveryUrl {
    text: Arc<str>,
    uri: Uri,
}

impl DeliveryUrl {
    /// The URL as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL parsed.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The host (a name, or an address; IPv6 in brackets).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }
}

impl PartialEq for DeliveryUrl {
    fn eq(&self, other: &DeliveryUrl) -> bool {
        self.text == other.text
    }
}

impl Eq for DeliveryUrl {}

/// Checks `text` with the strict default policy ([`UrlPolicy::new`]: https, public hosts).
impl TryFrom<&str> for DeliveryUrl {
    type Error = UrlError;
    fn try_from(text: &str) -> Result<DeliveryUrl, UrlError> {
        UrlPolicy::new().check(text)
    }
}

impl PartialEq<str> for DeliveryUrl {
    fn eq(&self, other: &str) -> bool {
        *self.text == *other
    }
}

impl PartialEq<&str> for DeliveryUrl {
    fn eq(&self, other: &&str) -> bool {
        *self.text == **other
    }
}

impl fmt::Debug for DeliveryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for DeliveryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for DeliveryUrl {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for DeliveryUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for DeliveryUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DeliveryUrl, D::Error> {
        let text = String::deserialize(deserializer)?;
        let shape_ok = !text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
        let uri = text
            .parse::<Uri>()
            .ok()
            .filter(|uri| {
                shape_ok
                    && matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some_and(|h| !h.is_empty())
            })
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{}` is not an absolute http or https URL",
                    clip(&text, 200)
                ))
            })?;
        Ok(DeliveryUrl {
            text: text.into(),
            uri,
        })
    }
}

/// Why a URL or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute URL.
    #[error("`{url}` is not a valid absolute URL")]
    Invalid {
        /// The URL (cut to 200 characters).
        url: String,
    },
    /// The scheme is not allowed (`https` only unless plain HTTP is allowed).
    #[error("the scheme `{scheme}` is not allowed; use https (tests on loopback may allow http with `UrlPolicy::with_http_allowed`)")]
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// The URL carries a user name or password.
    #[error("credentials in the URL are not allowed")]
    Credentials,
    /// The host is empty or not a valid host name.
    #[error("`{host}` is not a valid host")]
    InvalidHost {
        /// The host (cut to 200 characters).
        host: String,
    },
    /// The host is an address in a forbidden range.
    #[error("`{addr}` is {class}")]
    Address {
        /// The address (for IPv4 spelled oddly, as it was understood).
        addr: IpAddr,
        /// The range, e.g. "a loopback address".
        class: AddressClass,
    },
    /// The host name is local or internal.
    #[error("`{host}` is {reason}")]
    Name {
        /// The host name.
        host: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// The kind of range a refused address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressClass {
    /// 0.0.0.0/8, `::`.
    Unspecified,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (ULA), fec0::/10 (site-local).
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedCgnat,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// IPv6 forms that carry IPv4: mapped, compatible, 6to4, NAT64, Teredo.
    Ipv4Embedded,
    /// 100::/64, the discard prefix.
    Discard,
    /// Everything else that is not public unicast: 240/4, 192.0.0/24, 192.88.99/24, IPv6
    /// outside 2000::/3 and IETF assignments.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::SharedCgnat => "a carrier-grade NAT address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Benchmarking => "a benchmarking address",
            AddressClass::Ipv4Embedded => "an IPv6 address that embeds an IPv4 one",
            AddressClass::Discard => "a discard-only address",
            AddressClass::Reserved => "a reserved address",
        })
    }
}

impl AddressClass {
    /// Ranges that [`UrlPolicy::with_private_allowed`] opens: where private deployments and tests live.
    fn is_private_network(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback
                | AddressClass::Private
                | AddressClass::LinkLocal
                | AddressClass::SharedCgnat
        )
    }
}

/// The range an address belongs to, or `None` for public unicast.
pub fn classify(addr: IpAddr) -> Option<AddressClass> {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    use AddressClass::*;
    Some(match (a, b, c) {
        (0, _, _) => Unspecified,
        (10, _, _) => Private,
        (100, 64..=127, _) => SharedCgnat,
        (127, _, _) => Loopback,
        (169, 254, _) => LinkLocal,
        (172, 16..=31, _) => Private,
        (192, 0, 0) | (192, 88, 99) => Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 168, _) => Private,
        (198, 18..=19, _) => Benchmarking,
        (224..=239, _, _) => Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Broadcast,
        (240..=255, _, _) => Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    // ::ffff:0:0/96 mapped, ::/96 compatible, 64:ff9b::/96 and 64:ff9b:1::/48 NAT64,
    // 2002::/16 6to4, 2001::/32 Teredo.
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6];
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1);
    if mapped || compatible || nat64 || s[0] == 0x2002 || (s[0] == 0x2001 && s[1] == 0) {
        return Some(Ipv4Embedded);
    }
    Some(match s[0] {
        0x0100 if s[1..4] == [0; 3] => Discard,
        0xfc00..=0xfdff => Private,
        0xfe80..=0xfebf => LinkLocal,
        0xfec0..=0xfeff => Private,
        0xff00..=0xffff => Multicast,
        0x2001 if s[1] == 0x0db8 => Documentation,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => Benchmarking,
        // 2001::/23: IETF protocol assignments (ORCHID, AMT, ...).
        0x2001 if s[1] < 0x0200 => Reserved,
        0x3fff if s[1] < 0x1000 => Documentation,
        0x5f00 => Reserved,
        0x2000..=0x3fff => return None,
        _ => Reserved,
    })
}

/// Reads an IPv4 host the way WHATWG URL parsers and `inet_aton` do: one to four parts,
/// each decimal, octal (leading `0`) or hex (`0x`), the last filling the remaining bytes.
/// `None` if it is not meant as IPv4 at all; `Some(Err)` if it looks numeric but is invalid.
fn parse_ipv4_lenient(host: &str) -> Option<Result<Ipv4Addr, ()>> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    // A name whose last label is numeric is an IPv4 attempt (WHATWG "ends in a number").
    let last = parts.last()?;
    let numeric = |p: &str| {
        !p.is_empty()
            && (p.bytes().all(|b| b.is_ascii_digit())
                || p.strip_prefix("0x")
                    .or_else(|| p.strip_prefix("0X"))
                    .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())))
    };
    if !numeric(last) {
        return None;
    }
    if parts.len() > 4 {
        return Some(Err(()));
    }
    let mut values = Vec::with_capacity(parts.len());
    for p in &parts {
        let value = if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if hex.is_empty() {
                Some(0)
            } else {
                u64::from_str_radix(hex, 16).ok()
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else {
            p.parse::<u64>().ok()
        };
        match value {
            Some(v) if v <= u64::from(u32::MAX) => values.push(v),
            _ => return Some(Err(())),
        }
    }
    let (init, last) = values.split_at(values.len() - 1);
    if init.iter().any(|&v| v > 255) {
        return Some(Err(()));
    }
    let last = last[0];
    let width = 8 * (4 - init.len() as u32);
    if width < 32 && last >= 1 << width {
        return Some(Err(()));
    }
    let mut n = last;
    for (i, &v) in init.iter().enumerate() {
        n |= v << (24 - 8 * i as u32);
    }
    Some(u32::try_from(n).map(Ipv4Addr::from).map_err(|_| ()))
}

const LOCAL_SUFFIXES: [&str; 5] = [
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".home.arpa",
];

impl UrlPolicy {
    /// The strict default: `https` only, public hosts only.
    pub fn new() -> UrlPolicy {
        UrlPolicy::default()
    }

    /// Allows plain `http` URLs (for tests on loopback, or private deployments).
    #[must_use]
    pub fn with_http_allowed(mut self, allow: bool) -> UrlPolicy {
        self.allow_http = allow;
        self
    }

    /// Allows loopback, private, link-local and CGNAT addresses and local names (tests and
    /// private deployments). Unspecified, multicast, broadcast, documentation and reserved
    /// addresses stay refused.
    #[must_use]
    pub fn with_private_allowed(mut self, allow: bool) -> UrlPolicy {
        self.allow_private = allow;
        self
    }

    /// Always allows this host name (compared case-insensitively).
    #[must_use]
    pub fn with_allowed_host(mut self, host: impl Into<String>) -> UrlPolicy {
        self.allowed_hosts.insert(host.into().to_ascii_lowercase());
        self
    }

    /// Always allows this address.
    #[must_use]
    pub fn with_allowed_ip(mut self, addr: IpAddr) -> UrlPolicy {
        self.allowed_ips.insert(addr);
        self
    }

    /// Checks a delivery URL; one that passes comes back as a [`DeliveryUrl`], the only form
    /// endpoints and delivery targets accept.
    pub fn check(&self, url: &str) -> Result<DeliveryUrl, UrlError> {
        let invalid = || UrlError::Invalid {
            url: clip(url, 200),
        };
        if url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid());
        }
        let uri: Uri = url.parse().map_err(|_| invalid())?;
        let scheme = uri.scheme_str().ok_or_else(invalid)?.to_ascii_lowercase();
        match scheme.as_str() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(UrlError::Scheme { scheme }),
        }
        let authority = uri.authority().ok_or_else(invalid)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Credentials);
        }
        let host = authority.host();
        // Only `host` or `host:port` may follow: `http` reads `[::1]junk` as the host `[::1]`,
        // and another parser might read it otherwise.
        let rest = &authority.as_str()[host.len()..];
        let port_ok = rest.is_empty()
            || rest.strip_prefix(':').is_some_and(|port| {
                !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && authority.port_u16().is_some()
            });
        if !port_ok {
            return Err(invalid());
        }
        self.check_host(host)?;
        Ok(DeliveryUrl {
            text: url.into(),
            uri,
        })
    }

    /// Checks the addresses a host name resolved to, before connecting: every one must pass
    /// (so a name cannot smuggle a private address, even by rebinding between checks).
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), UrlError> {
        if self
            .allowed_hosts
            .contains(&host.trim_end_matches('.').to_ascii_lowercase())
        {
            return Ok(());
        }
        addrs.iter().try_for_each(|&addr| self.check_addr(addr))
    }

    /// Checks one address against the ranges.
    pub fn check_addr(&self, addr: IpAddr) -> Result<(), UrlError> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        if self.allowed_ips.contains(&addr) {
            return Ok(());
        }
        match classify(addr) {
            None => Ok(()),
            Some(class) if self.allow_private && class.is_private_network() => Ok(()),
            Some(class) => Err(UrlError::Address { addr, class }),
        }
    }

    fn check_host(&self, host: &str) -> Result<(), UrlError> {
        let invalid = || UrlError::InvalidHost {
            host: clip(host, 200),
        };
        if host.is_empty() {
            return Err(invalid());
        }
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let v6: Ipv6Addr = inner.parse().map_err(|_| invalid())?;
            return self.check_addr(IpAddr::V6(v6));
        }
        let name = host.to_ascii_lowercase();
        if self.allowed_hosts.contains(name.trim_end_matches('.')) {
            return Ok(());
        }
        match parse_ipv4_lenient(&name) {
            Some(Ok(v4)) => return self.check_addr(IpAddr::V4(v4)),
            Some(Err(())) => return Err(invalid()),
            None => {}
        }
        let name = name.strip_suffix('.').unwrap_or(&name);
        let labels_ok = name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !labels_ok || name.len() > 253 {
            return Err(invalid());
        }
        if self.allow_private {
            return Ok(());
        }
        let refuse = |reason| {
            Err(UrlError::Name {
                host: name.to_owned(),
                reason,
            })
        };
        if name == "localhost" || name == "localhost.localdomain" {
            return refuse("a loopback name");
        }
        if LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return refuse("a local or internal name");
        }
        if !name.contains('.') {
            return refuse("a single-label name, which resolves inside private networks");
        }
        under_public_suffix(name).or_else(refuse)
    }
}

/// The name ends in a suffix of the Public Suffix List, with a label before it:
/// `router.lan`, `nas.home`, `kubernetes.default.svc` can only resolve privately.
#[cfg(feature = "public-suffix")]
fn under_public_suffix(name: &str) -> Result<(), &'static str> {
    match psl::suffix(name.as_bytes()) {
        Some(suffix) if suffix.is_known() => {
            let under_it = name.len() > suffix.as_bytes().len();
            // A private-section suffix (`herokuapp.com`) is itself a name under an ICANN one.
            if under_it || suffix.typ() == Some(psl::Type::Private) {
                Ok(())
            } else {
                Err("a public suffix itself, not a host under one")
            }
        }
        _ => Err("not under a public suffix (such as .com, .org or .fr), so it can only resolve inside a private network"),
    }
}

/// Without the `public-suffix` feature, names are not checked against the list.
#[cfg(not(feature = "public-suffix"))]
fn under_public_suffix(_: &str) -> Result<(), &'static str> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_ipv4_spellings() {
        let cases = [
            ("127.0.0.1", [127, 0, 0, 1]),
            ("0x7f.1", [127, 0, 0, 1]),
            ("2130706433", [127, 0, 0, 1]),
            ("017700000001", [127, 0, 0, 1]),
            ("0177.0.0.01", [127, 0, 0, 1]),
            ("0x7f000001", [127, 0, 0, 1]),
            ("127.1", [127, 0, 0, 1]),
            ("10.0.258", [10, 0, 1, 2]),
            ("8.8.8.8.", [8, 8, 8, 8]),
        ];
        for (text, octets) in cases {
            assert_eq!(
                parse_ipv4_lenient(text),
                Some(Ok(Ipv4Addr::from(octets))),
                "{text}"
            );
        }
        for bad in [
            "256.1.1.1",
            "1.2.3.4.5",
            "4294967296",
            "1.2.3.256",
            "09.1.1.1",
            "0x1g.1",
        ] {
            assert!(!matches!(parse_ipv4_lenient(bad), Some(Ok(_))), "{bad}");
        }
        assert_eq!(parse_ipv4_lenient("example.com"), None);
    }
}
