//! Which URLs a webhook may call. Only `http` and `https`, without credentials, and —
//! unless `webhook_allow_private_networks` — never a host that is or resolves to an
//! address of any range in IANA's IPv4 and IPv6 Special-Purpose Address Registries
//! (loopback, private-use, link-local, shared/CGNAT, documentation, benchmarking, 6to4,
//! Teredo, NAT64 local-use, …), a multicast or broadcast address, or an IPv6 address
//! outside global unicast (`2000::/3`). IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
//! (`64:ff9b::a.b.c.d`) addresses are judged by the IPv4 address they carry. SSRF: a
//! tenant must not make the service call into its own network.
//!
//! The rule is checked when an endpoint is registered and again on every delivery, by
//! [`GuardedResolver`]: the addresses the HTTP client connects to are the ones it checked,
//! so a DNS answer that changes after registration (or between check and connect) cannot
//! slip through.
//!
//! A refusal names the address only when the URL wrote it: for a host name it says what
//! kind of address the name resolves to, never which one (that would let a tenant map
//! the service's network through its DNS).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use url::{Host, Url};

/// Longest URL accepted.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// Why a URL is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    /// Not a URL.
    #[error("url is not a valid URL: {0}")]
    Invalid(String),
    /// Another scheme than http(s).
    #[error("url must be an http or https URL, not {0}:")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error("url must not contain a user name or password")]
    Credentials,
    /// A host written as an IP address that webhooks may not call.
    #[error(
        "url's host {host} is {kind} address ({range}): webhooks may not call private or \
         special-purpose addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
    )]
    PrivateAddress {
        /// The host as written in the URL.
        host: String,
        /// What kind of address it is.
        kind: &'static str,
        /// The refused range it is in.
        range: String,
    },
    /// A host name with an address webhooks may not call; which address is not said.
    #[error(
        "url's host {host} resolves to {kind} address: webhooks may not call private or \
         special-purpose addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
    )]
    PrivateName {
        /// The host as written in the URL.
        host: String,
        /// What kind of address one of its addresses is.
        kind: &'static str,
    },
    /// The host name does not resolve.
    #[error("url's host {host} does not resolve: {reason}")]
    Unresolvable {
        /// The host as written in the URL.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// Parses `raw` and checks what can be checked without DNS: length, scheme, credentials,
/// and a host.
pub(crate) fn parse(raw: &str) -> Result<Url, TargetError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(TargetError::Invalid(format!(
            "longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = Url::parse(raw).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.host().is_none() {
        return Err(TargetError::Invalid("it has no host".into()));
    }
    Ok(url)
}

/// Checks `url` (from [`parse`]) against the SSRF rule, resolving a host name: every
/// address it resolves to must be public. Does nothing when private networks are allowed.
pub(crate) async fn check(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    check_literal(url)?;
    if let Some(Host::Domain(name)) = url.host() {
        resolve_public(name).await?;
    }
    Ok(())
}

/// Checks a host written as an IP address (the HTTP client connects to those without
/// asking a resolver); host names are left to [`GuardedResolver`].
pub(crate) fn check_literal(url: &Url) -> Result<(), TargetError> {
    let addr = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match refused_range(addr) {
        Some(range) => Err(TargetError::PrivateAddress {
            host: url.host_str().unwrap_or_default().to_owned(),
            kind: range.kind,
            range: range.to_string(),
        }),
        None => Ok(()),
    }
}

/// Resolves `name`; fails unless it has addresses and all of them are public.
async fn resolve_public(name: &str) -> Result<Vec<SocketAddr>, TargetError> {
    let unresolvable = |reason: String| TargetError::Unresolvable {
        host: name.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|e| unresolvable(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable("no addresses".into()));
    }
    for addr in &addrs {
        if let Some(kind) = refused_kind(addr.ip()) {
            return Err(TargetError::PrivateName {
                host: name.to_owned(),
                kind,
            });
        }
    }
    Ok(addrs)
}

/// A range of addresses webhooks may not call: `net/len` and what kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefusedRange {
    /// The first address of the range.
    pub net: IpAddr,
    /// The prefix length.
    pub len: u8,
    /// What kind of addresses these are, with its article ("a loopback").
    pub kind: &'static str,
}

impl std::fmt::Display for RefusedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// IANA's IPv4 Special-Purpose Address Registry, every entry (as of 2025), plus multicast
/// and the limited broadcast address. The first matching entry names the kind.
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(255, 255, 255, 255), 32, "a broadcast"),
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "an unspecified (\"this network\")",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "a private-use"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "a shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "a loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "a link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "a private-use"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "an IETF protocol assignment",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "a documentation (TEST-NET-1)",
    ),
    (Ipv4Addr::new(192, 31, 196, 0), 24, "an AS112"),
    (Ipv4Addr::new(192, 52, 193, 0), 24, "an AMT"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "a 6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "a private-use"),
    (Ipv4Addr::new(192, 175, 48, 0), 24, "an AS112"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "a benchmarking"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "a documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "a documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "a multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "a reserved (240.0.0.0/4)"),
];

/// IANA's IPv6 Special-Purpose Address Registry (as of 2025), plus multicast and the
/// deprecated site-local range. `::ffff:0:0/96` and `64:ff9b::/96` are not here: they are
/// judged by the IPv4 address they carry. Anything else outside `2000::/3` is refused too.
const V6_REFUSED: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "an unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "a loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "a local-use NAT64",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "a discard-only",
    ),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "a dummy"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "a Teredo"),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "an IETF protocol assignment",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "a documentation",
    ),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "a 6to4"),
    (
        Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0),
        48,
        "an AS112",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "a documentation",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "a segment-routing (SRv6)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "a unique-local (private)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "a link-local",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "a site-local (deprecated)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "a multicast"),
];

/// IPv6 global unicast, `2000::/3`: the only IPv6 addresses routed on the internet.
const V6_GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

fn v4_in(addr: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(net) & mask
}

fn v6_in(addr: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(addr) & mask == u128::from(net) & mask
}

/// The kind of a refused address, `None` for a public one.
pub(crate) fn refused_kind(addr: IpAddr) -> Option<&'static str> {
    refused_range(addr).map(|range| range.kind)
}

/// The refused range `addr` is in, `None` for a public address. An IPv4-mapped or NAT64
/// address gets the range of the IPv4 address it carries.
pub(crate) fn refused_range(addr: IpAddr) -> Option<RefusedRange> {
    match addr {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // ::ffff:127.0.0.1 reaches 127.0.0.1.
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(v4: Ipv4Addr) -> Option<RefusedRange> {
    V4_REFUSED
        .iter()
        .find(|(net, len, _)| v4_in(v4, *net, *len))
        .map(|&(net, len, kind)| RefusedRange {
            net: IpAddr::V4(net),
            len,
            kind,
        })
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:0:0/96`) or NAT64
/// well-known prefix (`64:ff9b::/96`, RFC 6052).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let mapped = v6_in(v6, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
    let nat64 = v6_in(v6, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
    (mapped || nat64).then(|| Ipv4Addr::from(u128::from(v6) as u32))
}

fn refused_v6(v6: Ipv6Addr) -> Option<RefusedRange> {
    if let Some(&(net, len, kind)) = V6_REFUSED
        .iter()
        .find(|(net, len, _)| v6_in(v6, *net, *len))
    {
        return Some(RefusedRange {
            net: IpAddr::V6(net),
            len,
            kind,
        });
    }
    let (global, global_len) = V6_GLOBAL_UNICAST;
    if v6_in(v6, global, global_len) {
        return None;
    }
    // Not global unicast: the deprecated IPv4-compatible `::a.b.c.d`, unassigned space.
    // The range named is the /3 (or /8 for the first one) the address is in.
    let (net, len) = if u128::from(v6) >> 120 == 0 {
        (Ipv6Addr::UNSPECIFIED, 8)
    } else {
        (Ipv6Addr::from(u128::from(v6) & (u128::MAX << 125)), 3)
    };
    Some(RefusedRange {
        net: IpAddr::V6(net),
        len,
        kind: "a non-global (outside 2000::/3)",
    })
}

/// The HTTP client's resolver for webhook deliveries: resolves like the system does, then
/// refuses a host with any address [`refused_kind`] names. The client connects only to
/// the addresses returned here, so what was checked is what is called.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&name).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl GuardedResolver {
    /// The resolver as the HTTP client builder takes it.
    pub(crate) fn shared() -> Arc<Self> {
        Arc::new(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(addr: &str) -> Option<&'static str> {
        refused_kind(addr.parse().unwrap())
    }

    /// Every refused range, written out independently of the tables above: its first and
    /// last address, and a word of the kind it must be named.
    const REFUSED: &[(&str, &str, &str)] = &[
        // IPv4 Special-Purpose Address Registry.
        ("0.0.0.0", "0.255.255.255", "unspecified"),
        ("10.0.0.0", "10.255.255.255", "private-use"),
        ("100.64.0.0", "100.127.255.255", "CGNAT"),
        ("127.0.0.0", "127.255.255.255", "loopback"),
        ("169.254.0.0", "169.254.255.255", "link-local"),
        ("172.16.0.0", "172.31.255.255", "private-use"),
        ("192.0.0.0", "192.0.0.255", "IETF protocol"),
        ("192.0.2.0", "192.0.2.255", "TEST-NET-1"),
        ("192.31.196.0", "192.31.196.255", "AS112"),
        ("192.52.193.0", "192.52.193.255", "AMT"),
        ("192.88.99.0", "192.88.99.255", "6to4 relay"),
        ("192.168.0.0", "192.168.255.255", "private-use"),
        ("192.175.48.0", "192.175.48.255", "AS112"),
        ("198.18.0.0", "198.19.255.255", "benchmarking"),
        ("198.51.100.0", "198.51.100.255", "TEST-NET-2"),
        ("203.0.113.0", "203.0.113.255", "TEST-NET-3"),
        ("240.0.0.0", "255.255.255.254", "reserved"),
        ("255.255.255.255", "255.255.255.255", "broadcast"),
        // Not in the registry, never a webhook receiver.
        ("224.0.0.0", "239.255.255.255", "multicast"),
        // IPv6 Special-Purpose Address Registry.
        ("::", "::", "unspecified"),
        ("::1", "::1", "loopback"),
        ("64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "NAT64"),
        ("100::", "100::ffff:ffff:ffff:ffff", "discard"),
        ("100:0:0:1::", "100::1:ffff:ffff:ffff:ffff", "dummy"),
        ("2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo"),
        (
            "2001:1::",
            "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            "IETF protocol",
        ),
        (
            "2001:db8::",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "documentation",
        ),
        ("2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "6to4"),
        (
            "2620:4f:8000::",
            "2620:4f:8000:ffff:ffff:ffff:ffff:ffff",
            "AS112",
        ),
        (
            "3fff::",
            "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
            "documentation",
        ),
        ("5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "SRv6"),
        (
            "fc00::",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "unique-local",
        ),
        (
            "fe80::",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "link-local",
        ),
        (
            "fec0::",
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "site-local",
        ),
        (
            "ff00::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "multicast",
        ),
    ];

    fn neighbour(addr: IpAddr, step: i8) -> Option<IpAddr> {
        match addr {
            IpAddr::V4(v4) => {
                let n = u32::from(v4);
                let n = if step < 0 {
                    n.checked_sub(1)
                } else {
                    n.checked_add(1)
                };
                n.map(|n| IpAddr::V4(n.into()))
            }
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                let n = if step < 0 {
                    n.checked_sub(1)
                } else {
                    n.checked_add(1)
                };
                n.map(|n| IpAddr::V6(n.into()))
            }
        }
    }

    #[test]
    fn every_special_purpose_range_is_refused_edge_to_edge() {
        for &(first, last, word) in REFUSED {
            let (first, last): (IpAddr, IpAddr) = (first.parse().unwrap(), last.parse().unwrap());
            for addr in [first, last] {
                let kind = refused_kind(addr).unwrap_or_else(|| panic!("{addr} must be refused"));
                assert!(kind.contains(word), "{addr}: {kind}, expected {word}");
            }
            // Just outside, the range has ended: another kind, or public.
            let outside = [neighbour(first, -1), neighbour(last, 1)];
            for addr in outside.into_iter().flatten() {
                let kind = refused_kind(addr).unwrap_or("public");
                assert!(
                    !kind.contains(word),
                    "{addr} is outside {first}–{last}: {kind}"
                );
            }
        }
    }

    #[test]
    fn the_addresses_around_the_ranges_are_public() {
        for addr in [
            "1.0.0.0",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "191.255.255.255",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "2000::",
            "2001:200::",
            "2001:4860:4860::8888",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
            "2003::",
            "2606:4700:4700::1111",
            "2620:4f:7fff:ffff:ffff:ffff:ffff:ffff",
            "2620:4f:8001::",
            "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "3fff:1000::",
        ] {
            assert_eq!(kind(addr), None, "{addr} is public");
        }
    }

    #[test]
    fn outside_ipv6_global_unicast_is_refused() {
        for addr in [
            "::2",
            "::127.0.0.1",
            "::8.8.8.8",
            "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "4000::",
            "5eff::1",
            "5f01::",
            "fbff::1",
        ] {
            let kind = kind(addr).unwrap_or_else(|| panic!("{addr} must be refused"));
            assert!(kind.contains("2000::/3"), "{addr}: {kind}");
        }
    }

    #[test]
    fn ipv4_mapped_and_nat64_addresses_are_judged_by_their_ipv4_address() {
        for (addr, word) in [
            ("::ffff:0.0.0.0", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private-use"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:100.64.0.1", "CGNAT"),
            ("::ffff:255.255.255.255", "broadcast"),
            ("64:ff9b::", "unspecified"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::169.254.169.254", "link-local"),
            ("64:ff9b::192.0.2.1", "TEST-NET-1"),
            ("64:ff9b::255.255.255.255", "broadcast"),
        ] {
            let kind = kind(addr).unwrap_or_else(|| panic!("{addr} must be refused"));
            assert!(kind.contains(word), "{addr}: {kind}, expected {word}");
        }
        for addr in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "64:ff9b::1.1.1.1"] {
            assert_eq!(kind(addr), None, "{addr} carries a public address");
        }
        // Just outside both /96: not global unicast.
        for addr in [
            "::fffe:ffff:ffff",
            "::1:0:0:0",
            "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff",
            "64:ff9b:0:0:0:1::",
        ] {
            assert!(kind(addr).is_some_and(|k| k.contains("2000::/3")), "{addr}");
        }
        assert_eq!(
            refused_range("::ffff:10.1.2.3".parse().unwrap())
                .unwrap()
                .to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn only_http_urls_without_credentials_parse() {
        assert!(parse("https://hooks.example.com/x?y=1").is_ok());
        assert!(parse(" http://hooks.example.com ").is_ok());
        assert!(matches!(
            parse("ftp://example.com"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            parse("file:///etc/passwd"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            parse("https://user:pw@example.com"),
            Err(TargetError::Credentials)
        ));
        assert!(matches!(
            parse("https://user@example.com"),
            Err(TargetError::Credentials)
        ));
        assert!(matches!(parse("not a url"), Err(TargetError::Invalid(_))));
    }

    #[test]
    fn ip_literals_in_any_spelling_are_checked() {
        for raw in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]:8080/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let url = parse(raw).unwrap();
            assert!(check_literal(&url).is_err(), "{raw}");
        }
        assert!(check_literal(&parse("http://8.8.8.8/").unwrap()).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_unless_allowed() {
        let url = parse("http://localhost:9/").unwrap();
        let refused = check(&url, false).await.unwrap_err();
        assert!(
            matches!(refused, TargetError::PrivateName { .. }),
            "{refused:?}"
        );
        // The kind, not the address: a tenant learns nothing of what its name resolves to.
        let message = refused.to_string();
        assert!(
            message.contains("resolves to a loopback address"),
            "{message}"
        );
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );
        assert!(check(&url, true).await.is_ok());
    }

    #[test]
    fn a_literal_address_is_named_with_its_range() {
        let message = check_literal(&parse("http://10.1.2.3:8080/x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("10.1.2.3 is a private-use address (10.0.0.0/8)"),
            "{message}"
        );
        let message = check_literal(&parse("http://[fd00::1]/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("[fd00::1] is a unique-local (private) address (fc00::/7)"),
            "{message}"
        );
    }
}
