//! Indicators: what a source name or a CnC entry says about where an attack came from.
//! Sensors report a source as a domain, a URL or an email sender in one field; whitelists,
//! mitigations and IVPs need to know which.

use std::net::IpAddr;

use crate::net::HostName;

/// A source name, classified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SourceName {
    /// `http(s)://host/…`, with its host in lower case.
    Url { url: String, host: String },
    /// `someone@domain`, in lower case.
    Email { sender: String, domain: String },
    /// A bare host name, in lower case.
    Domain(String),
    /// Anything else (kept for display, never acted on).
    Other,
}

impl SourceName {
    pub fn classify(raw: &str) -> SourceName {
        let lower = raw.trim().to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"))
        {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            let host = host.split(':').next().unwrap_or("");
            return match normal_domain(host) {
                Some(host) if !raw.chars().any(char::is_whitespace) => SourceName::Url {
                    url: raw.trim().to_owned(),
                    host,
                },
                _ => SourceName::Other,
            };
        }
        if let Some((local, domain)) = lower.split_once('@') {
            return match normal_domain(domain) {
                Some(domain) if !local.is_empty() && !local.contains(char::is_whitespace) => {
                    SourceName::Email {
                        sender: format!("{local}@{domain}"),
                        domain,
                    }
                }
                _ => SourceName::Other,
            };
        }
        normal_domain(&lower).map_or(SourceName::Other, SourceName::Domain)
    }

    /// The domain this source lives at, if any.
    pub fn domain(&self) -> Option<&str> {
        match self {
            SourceName::Url { host, .. } => Some(host),
            SourceName::Email { domain, .. } => Some(domain),
            SourceName::Domain(d) => Some(d),
            SourceName::Other => None,
        }
    }
}

/// `name` as a lower-case host name with at least one dot, or `None`. A name whose last
/// label is a number (`127.1`, `010.0.0.1`, `0x7f.0.0.1`, `999.1.1.1`) is refused: no
/// top-level domain is numeric, and resolvers read such names as IPv4 addresses, so a feed
/// line for one would block an address.
pub fn normal_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let last = name.rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    (name.contains('.')
        && !numeric
        && name.parse::<IpAddr>().is_err()
        && HostName::parse("d", &name).is_ok())
    .then_some(name)
}

/// Whether `host` is `domain` or one of its subdomains.
pub fn within_domain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// A CnC entry (`host`, `ip`, `host:port`, `[v6]:port`) split into host and port.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CncHost {
    Ip(IpAddr),
    Domain(String),
}

impl CncHost {
    pub fn parse(entry: &str) -> Option<CncHost> {
        let entry = entry.trim();
        if let Some(ip) = crate::net::parse_ip(entry) {
            return Some(CncHost::Ip(ip));
        }
        if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
            return Some(CncHost::Ip(crate::net::canonical_ip(sock.ip())));
        }
        let host = match entry.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            _ => entry,
        };
        normal_domain(host).map(CncHost::Domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_source_names() {
        assert_eq!(
            SourceName::classify("HTTP://Evil.Example.com:8080/a?b"),
            SourceName::Url {
                url: "HTTP://Evil.Example.com:8080/a?b".into(),
                host: "evil.example.com".into()
            }
        );
        assert_eq!(
            SourceName::classify("Boss@Corp.Example"),
            SourceName::Email {
                sender: "boss@corp.example".into(),
                domain: "corp.example".into()
            }
        );
        assert_eq!(
            SourceName::classify("bad.example."),
            SourceName::Domain("bad.example".into())
        );
        assert_eq!(SourceName::classify("<script>"), SourceName::Other);
        assert_eq!(
            SourceName::classify("http://a b.example/"),
            SourceName::Other
        );
        assert_eq!(SourceName::classify("10.0.0.1"), SourceName::Other);
    }

    #[test]
    fn numeric_names_are_not_domains() {
        for name in [
            "127.1",
            "0x7f.0.0.1",
            "010.0.0.1",
            "1.2.3",
            "999.1.1.1",
            "10.0.0.0x1",
        ] {
            assert_eq!(normal_domain(name), None, "{name}");
            assert_eq!(SourceName::classify(name), SourceName::Other, "{name}");
            assert_eq!(CncHost::parse(name), None, "{name}");
        }
        assert_eq!(
            normal_domain("1password.com").as_deref(),
            Some("1password.com")
        );
        assert_eq!(normal_domain("a.b2").as_deref(), Some("a.b2"));
        assert_eq!(
            CncHost::parse("::ffff:10.0.0.1"),
            Some(CncHost::Ip("10.0.0.1".parse().unwrap()))
        );
    }

    #[test]
    fn domains_and_cnc() {
        assert!(within_domain("a.evil.example", "evil.example"));
        assert!(!within_domain("notevil.example", "evil.example"));
        assert_eq!(
            CncHost::parse("203.0.113.9:443"),
            Some(CncHost::Ip("203.0.113.9".parse().unwrap()))
        );
        assert_eq!(
            CncHost::parse("C2.Example.net:8443"),
            Some(CncHost::Domain("c2.example.net".into()))
        );
        assert_eq!(CncHost::parse("'; rm -rf /"), None);
    }
}
