//! Which URLs a webhook may call. Only `http` and `https`, without credentials, and —
//! unless `webhook_allow_private_networks` — never a host that is or resolves to a
//! loopback, private, link-local, CGNAT, unspecified, broadcast or multicast address
//! (SSRF: a tenant must not make the service call into its own network).
//!
//! The rule is checked when an endpoint is registered and again on every delivery, by
//! [`GuardedResolver`]: the addresses the HTTP client connects to are the ones it checked,
//! so a DNS answer that changes after registration (or between check and connect) cannot
//! slip through.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use url::{Host, Url};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not a URL.
    #[error("url is not a valid URL: {0}")]
    Invalid(String),
    /// Another scheme than http(s).
    #[error("url must be an http or https URL, not {0}:")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error("url must not contain a user name or password")]
    Credentials,
    /// A host that is or resolves to an address of a private network.
    #[error(
        "url's host {host} is {kind} address {addr}: webhooks may not call private networks \
         (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
    )]
    Private {
        /// The host as written in the URL.
        host: String,
        /// One of its addresses that is refused.
        addr: IpAddr,
        /// What kind of address that is.
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
pub fn parse(raw: &str) -> Result<Url, TargetError> {
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
pub async fn check(url: &Url, allow_private: bool) -> Result<(), TargetError> {
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
pub fn check_literal(url: &Url) -> Result<(), TargetError> {
    let addr = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match refused_kind(addr) {
        Some(kind) => Err(TargetError::Private {
            host: url.host_str().unwrap_or_default().to_owned(),
            addr,
            kind,
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
            return Err(TargetError::Private {
                host: name.to_owned(),
                addr: addr.ip(),
                kind,
            });
        }
    }
    Ok(addrs)
}

/// The kind of a refused address, `None` for a public one.
pub fn refused_kind(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // ::ffff:127.0.0.1 reaches 127.0.0.1.
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Some("a loopback")
    } else if v4.is_unspecified() || a == 0 {
        Some("an unspecified (0.0.0.0/8)")
    } else if v4.is_private() {
        Some("a private (RFC 1918)")
    } else if v4.is_link_local() {
        Some("a link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a CGNAT (100.64.0.0/10)")
    } else if v4.is_multicast() {
        Some("a multicast")
    } else if v4.is_broadcast() {
        Some("a broadcast")
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, deprecated) or NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    // `::` and `::1` are IPv6's own unspecified and loopback addresses.
    let compatible = s[..6] == [0; 6] && !v6.is_unspecified() && !v6.is_loopback();
    (nat64 || compatible).then_some(low)
}

fn refused_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let first = v6.segments()[0];
    if v6.is_loopback() {
        Some("a loopback")
    } else if v6.is_unspecified() {
        Some("an unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (fc00::/7)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local")
    } else if v6.is_multicast() {
        Some("a multicast")
    } else {
        None
    }
}

/// The HTTP client's resolver for webhook deliveries: resolves like the system does, then
/// refuses a host with any address [`refused_kind`] names. The client connects only to
/// the addresses returned here, so what was checked is what is called.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

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
    pub fn shared() -> Arc<Self> {
        Arc::new(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(addr: &str) -> Option<&'static str> {
        refused_kind(addr.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for addr in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::169.254.169.254",
            "64:ff9b::10.0.0.1",
        ] {
            assert!(kind(addr).is_some(), "{addr} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "fec0::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(kind(addr), None, "{addr} is public");
        }
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
        assert!(matches!(
            check(&url, false).await,
            Err(TargetError::Private { .. })
        ));
        assert!(check(&url, true).await.is_ok());
    }
}
