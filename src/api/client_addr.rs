//! Which address a request comes from: the socket's peer, or — only when that peer is one
//! of the `TRUSTED_PROXIES` — the right-most `X-Forwarded-For` entry that is not a trusted
//! proxy itself. Entries left of it were written by the client and prove nothing.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use axum::http::HeaderMap;

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`)
    /// are compared as the IPv4 address they carry.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_u32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_u128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask_u32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask_u128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; any other address unchanged.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why a `TRUSTED_PROXIES` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an IP address or CIDR network", self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let error = || CidrError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network = canonical(address.parse::<IpAddr>().map_err(|_| error())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would also take `+8`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| error())?
            }
            Some(_) => return Err(error()),
        };
        // `::ffff:10.0.0.0/104` names the IPv4 network 10.0.0.0/8.
        let prefix = match (address.parse::<IpAddr>(), network) {
            (Ok(IpAddr::V6(_)), IpAddr::V4(_)) if prefix >= 96 => prefix - 96,
            (Ok(IpAddr::V6(_)), IpAddr::V4(_)) => return Err(error()),
            _ => prefix,
        };
        if prefix > max {
            return Err(error());
        }
        Ok(Self { network, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); empty: none, the
/// socket's peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses a comma- (or space-) separated list of addresses and CIDR networks.
    pub(crate) fn parse(list: &str) -> Result<Self, CidrError> {
        list.split([',', ' ', '\t', '\n'])
            .filter(|entry| !entry.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is a trusted proxy.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client's address: `peer` unless `peer` is trusted, then the right-most
    /// `X-Forwarded-For` entry that is not trusted. When every entry is trusted the
    /// left-most one is taken; an entry that is not an address stops the walk and the
    /// last trusted hop before it is taken (what is left of it cannot be believed).
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        // Several headers form one list, in order.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for entry in entries.iter().rev() {
            let Some(ip) = parse_forwarded_ip(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`).
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
        .map(canonical)
}

/// What failed authentications are counted under: an IPv4 address, or the /64 network of
/// an IPv6 address (one host usually has a whole /64 to pick addresses from).
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_u128(64))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn cidrs_match_their_network_only() {
        let net = cidr("10.1.0.0/16");
        assert!(net.contains(ip("10.1.0.0")));
        assert!(net.contains(ip("10.1.255.255")));
        assert!(!net.contains(ip("10.2.0.0")));
        assert!(!net.contains(ip("::1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped IPv6");

        let host = cidr("192.168.1.7");
        assert!(host.contains(ip("192.168.1.7")));
        assert!(!host.contains(ip("192.168.1.8")));

        let all = cidr("0.0.0.0/0");
        assert!(all.contains(ip("8.8.8.8")));
        assert!(!all.contains(ip("2001:db8::1")));

        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(cidr("::1").contains(ip("::1")));
        assert!(cidr("::/0").contains(ip("fe80::1")));
        // Host bits in the network are ignored, as most tools do.
        assert!(cidr("10.1.2.3/8").contains(ip("10.200.0.1")));
        // A mapped network is the IPv4 network.
        assert_eq!(cidr("::ffff:10.0.0.0/104"), cidr("10.0.0.0/8"));
    }

    #[test]
    fn malformed_cidrs_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "localhost",
            "10.0.0.0/8/8",
            "::ffff:10.0.0.0/95",
            "1.2.3.4:80",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense").is_err());
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        assert_eq!(
            TrustedProxies::parse(" , ").unwrap(),
            TrustedProxies::default()
        );
        let list = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1 ::1").unwrap();
        assert!(list.contains(ip("10.9.9.9")) && list.contains(ip("127.0.0.1")));
        assert!(list.contains(ip("::1")) && !list.contains(ip("127.0.0.2")));
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = xff(&["1.1.1.1"]);
        assert_eq!(
            trusted.client_ip(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.0.0/16").unwrap();
        let peer = ip("10.0.0.1");
        // The client wrote a fake first entry; the proxies appended what they saw.
        let headers = xff(&["6.6.6.6, 203.0.113.9, 192.168.1.1"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("203.0.113.9"));
        // Several headers are one list.
        let headers = xff(&["6.6.6.6", "203.0.113.9", "192.168.1.1"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("203.0.113.9"));
        // Ports and brackets.
        let headers = xff(&["203.0.113.9:4711"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("203.0.113.9"));
        let headers = xff(&["[2001:db8::7]:443"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("2001:db8::7"));
        let headers = xff(&["[2001:db8::7]"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("2001:db8::7"));
        // Mapped addresses are compared as IPv4.
        let headers = xff(&["::ffff:203.0.113.9"]);
        assert_eq!(
            trusted.client_ip(ip("::ffff:10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn without_an_untrusted_entry_the_furthest_trusted_hop_is_taken() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.1");
        assert_eq!(
            trusted.client_ip(peer, &HeaderMap::new()),
            peer,
            "no header"
        );
        let headers = xff(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("10.0.0.3"));
        // Garbage stops the walk at the last trusted hop: what is left of it is unproven.
        let headers = xff(&["203.0.113.9, garbage, 10.0.0.2"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("10.0.0.2"));
        let headers = xff(&[""]);
        assert_eq!(trusted.client_ip(peer, &headers), peer);
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
