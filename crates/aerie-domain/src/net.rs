//! Host names and the MCM address of `set mcm ip …`.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
};

use crate::DomainError;

/// `ip` in its one canonical form: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the
/// IPv4 address it maps, so that whitelists, feeds and grouping see one address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Parses an IPv4 or IPv6 address into its canonical form ([`canonical_ip`]).
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    raw.parse().ok().map(canonical_ip)
}

/// An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct HostName(String);

impl HostName {
    pub fn parse(field: &str, name: &str) -> Result<HostName, DomainError> {
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.len() <= 253 && name.split('.').all(label_ok) {
            Ok(HostName(name.to_owned()))
        } else {
            Err(DomainError::new(
                field,
                format!(
                    "{name:?} is not a valid host name: use letters, digits and inner hyphens, \
                     labels separated by dots, e.g. cm-losangeles"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the MCM is: an address or host name, and a port (443 unless given).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct McmAddress {
    pub host: McmHost,
    pub port: u16,
    /// Whether the port was written out.
    pub explicit_port: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum McmHost {
    Ip(IpAddr),
    Name(HostName),
}

impl McmAddress {
    pub const DEFAULT_PORT: u16 = 443;
    const EXPECTED: &str = "expected an IPv4 or IPv6 address or a host name, with an optional port: \
         10.0.0.5, 10.0.0.5:8443, 2001:db8::5, [2001:db8::5]:8443 or mcm.example.com:8443";

    pub fn parse(value: &str) -> Result<McmAddress, DomainError> {
        let bad = || {
            DomainError::new(
                "ip",
                format!("{value:?} is not an MCM address — {}", Self::EXPECTED),
            )
        };
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(McmAddress {
                host: McmHost::Ip(ip),
                port: Self::DEFAULT_PORT,
                explicit_port: false,
            });
        }
        if let Ok(sock) = value.parse::<SocketAddr>() {
            if sock.port() == 0 {
                return Err(bad());
            }
            return Ok(McmAddress {
                host: McmHost::Ip(sock.ip()),
                port: sock.port(),
                explicit_port: true,
            });
        }
        let (name, port) = match value.rsplit_once(':') {
            Some((name, port)) => {
                let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
                (name, Some(port))
            }
            None => (value, None),
        };
        // A bare name that is all digits and dots is a mistyped IPv4 address, not a host.
        if name.is_empty()
            || name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            || name.contains('[')
        {
            return Err(bad());
        }
        let host = HostName::parse("ip", name).map_err(|_| bad())?;
        Ok(McmAddress {
            host: McmHost::Name(host),
            port: port.unwrap_or(Self::DEFAULT_PORT),
            explicit_port: port.is_some(),
        })
    }

    /// `127.0.0.1` or `::1` without a port: "this box is the MCM".
    pub fn is_this_box(&self) -> bool {
        let this_box = [
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ];
        matches!(self.host, McmHost::Ip(ip) if this_box.contains(&ip)) && !self.explicit_port
    }

    /// The `https://host:port` base URL of the MCM.
    pub fn base_url(&self) -> String {
        match &self.host {
            McmHost::Ip(IpAddr::V6(ip)) => format!("https://[{ip}]:{}", self.port),
            McmHost::Ip(ip) => format!("https://{ip}:{}", self.port),
            McmHost::Name(name) => format!("https://{name}:{}", self.port),
        }
    }
}

impl fmt::Display for McmAddress {
    /// As the operator would type it: the port only when it was given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            McmHost::Ip(IpAddr::V6(ip)) if self.explicit_port => format!("[{ip}]"),
            McmHost::Ip(ip) => ip.to_string(),
            McmHost::Name(name) => name.to_string(),
        };
        if self.explicit_port {
            write!(f, "{host}:{}", self.port)
        } else {
            f.write_str(&host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_their_ipv4() {
        assert_eq!(parse_ip("::ffff:127.0.0.1"), parse_ip("127.0.0.1"));
        assert_eq!(parse_ip("::FFFF:10.0.0.1").unwrap().to_string(), "10.0.0.1");
        assert_eq!(parse_ip("2001:db8::1").unwrap().to_string(), "2001:db8::1");
        assert_eq!(parse_ip("10.0.0"), None);
    }

    #[test]
    fn only_the_loopback_address_itself_means_this_box() {
        let this_box = |s: &str| McmAddress::parse(s).unwrap().is_this_box();
        assert!(this_box("127.0.0.1"));
        assert!(this_box("::1"));
        assert!(
            !this_box("127.0.0.2"),
            "another loopback address is another daemon"
        );
        assert!(!this_box("127.0.0.1:8443"), "a port names another daemon");
        assert!(!this_box("mcm.example"));
    }

    #[test]
    fn fingerprints_are_32_hex_bytes() {
        let ok = ["ab"; 32].join(":");
        assert_eq!(
            CertFingerprint::parse("f", &ok).unwrap().as_str(),
            ["AB"; 32].join(":")
        );
        assert!(CertFingerprint::parse("f", &["AB"; 31].join(":")).is_err());
        assert!(CertFingerprint::parse("f", &["ZZ"; 32].join(":")).is_err());
        assert!(CertFingerprint::parse("f", "").is_err());
    }

    #[test]
    fn parses_every_documented_form() {
        let a = |s: &str| McmAddress::parse(s).unwrap();
        assert_eq!(a("10.0.0.5").port, 443);
        assert_eq!(a("10.0.0.5:8443").port, 8443);
        assert_eq!(a("2001:db8::5").port, 443);
        assert_eq!(
            a("[2001:db8::5]:8443").base_url(),
            "https://[2001:db8::5]:8443"
        );
        assert_eq!(
            a("mcm.example.com").base_url(),
            "https://mcm.example.com:443"
        );
        assert_eq!(a("mcm.example.com:9443").port, 9443);
        for s in [
            "10.0.0.5",
            "10.0.0.5:8443",
            "2001:db8::5",
            "[2001:db8::5]:8443",
            "mcm-1:80",
        ] {
            assert_eq!(a(s).to_string(), s, "round trip");
        }
    }

    #[test]
    fn loopback_without_port_is_this_box() {
        assert!(McmAddress::parse("127.0.0.1").unwrap().is_this_box());
        assert!(McmAddress::parse("::1").unwrap().is_this_box());
        assert!(!McmAddress::parse("127.0.0.1:8443").unwrap().is_this_box());
        assert!(!McmAddress::parse("127.0.0.2:443").unwrap().is_this_box());
        assert!(!McmAddress::parse("10.0.0.1").unwrap().is_this_box());
    }

    #[test]
    fn rejects_with_the_expected_forms() {
        for bad in [
            "1.2.3",
            "300.1.1.1",
            "10.0.0.5:0",
            "10.0.0.5:99999",
            "host:",
            ":443",
            "a b",
            "[::1]",
            "-x.com",
            "",
        ] {
            let e = McmAddress::parse(bad).unwrap_err();
            assert!(e.message.contains("10.0.0.5:8443"), "{bad}: {}", e.message);
        }
        assert!(HostName::parse("h", "cm-la.example").is_ok());
        assert!(HostName::parse("h", "bad_name").is_err());
    }
}

/// A certificate's SHA-256 fingerprint as peers pin it: 32 upper-case hex bytes joined by
/// `:` (`AA:BB:…`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CertFingerprint(String);

impl CertFingerprint {
    pub fn parse(field: &str, value: &str) -> Result<CertFingerprint, DomainError> {
        let bytes: Vec<&str> = value.split(':').collect();
        let ok = bytes.len() == 32
            && bytes
                .iter()
                .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        if ok {
            Ok(CertFingerprint(value.to_ascii_uppercase()))
        } else {
            Err(DomainError::new(
                field,
                "not a SHA-256 certificate fingerprint: expected 32 hex bytes joined by ':'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
