//! Host and port patterns used by rules.

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;

use super::request::RequestHost;

/// What a rule's `hosts` entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// An address or a CIDR block. A bare address is a /32 or /128.
    Net(IpNet),
    /// An exact host name. Raw TCP connections carry no name, so only
    /// requests whose name the gateway learns (TLS SNI, HTTP Host) match.
    Name(String),
    /// `*.example.com`: any name below `example.com`, not the name itself.
    Wildcard(String),
}

impl HostPattern {
    #[must_use]
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match self {
            Self::Net(net) => net.contains(&ip),
            Self::Name(_) | Self::Wildcard(_) => false,
        }
    }

    /// Whether an HTTP request's host matches: names by name, addresses
    /// by address (an IP literal in the URL never matches a name).
    #[must_use]
    pub fn matches_host(&self, host: &RequestHost<'_>) -> bool {
        match (self, host) {
            (Self::Net(net), RequestHost::Ip(ip)) => net.contains(ip),
            (Self::Name(pattern), RequestHost::Name(name)) => **pattern == **name,
            (Self::Wildcard(parent), RequestHost::Name(name)) => is_below(name, parent),
            _ => false,
        }
    }
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self::Net(net.trunc()));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Net(IpNet::from(ip.to_canonical())));
        }
        // `example.com.` is the same name as `example.com`.
        let absolute = s.strip_suffix('.').unwrap_or(s);
        let (wildcard, name) = match absolute.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, absolute),
        };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !valid {
            return Err(format!(
                "invalid host {s:?}: expected an IP address, a CIDR block, a host name or *.domain"
            ));
        }
        let name = name.to_ascii_lowercase();
        Ok(if wildcard {
            Self::Wildcard(name)
        } else {
            Self::Name(name)
        })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A single address reads as one, not as a /32 block.
            Self::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            Self::Net(net) => write!(f, "{net}"),
            Self::Name(name) => f.write_str(name),
            Self::Wildcard(name) => write!(f, "*.{name}"),
        }
    }
}

/// Whether `name` is a subdomain of `parent` (`a.b.example.com` of
/// `example.com`; `example.com` itself is not).
#[must_use]
pub fn is_below(name: &str, parent: &str) -> bool {
    name.len() > parent.len()
        && name.ends_with(parent)
        && name.as_bytes()[name.len() - parent.len() - 1] == b'.'
}

/// An inclusive port range; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    #[must_use]
    pub const fn single(port: u16) -> Self {
        Self {
            first: port,
            last: port,
        }
    }

    #[must_use]
    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("invalid port range {s:?}: expected \"FIRST-LAST\", such as \"8000-8100\"");
        let (first, last) = s.split_once('-').ok_or_else(bad)?;
        let first: u16 = first.trim().parse().map_err(|_| bad())?;
        let last: u16 = last.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(format!("invalid port range {s:?}: {first} is above {last}"));
        }
        Ok(Self { first, last })
    }
}
