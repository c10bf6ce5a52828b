//! Where the feed goes and how: a destination (`HOST:PORT`, TCP, TLS or UDP, a syslog
//! format, for TLS a pinned certificate or the trusted CAs), and a connection to it
//! that sends whole messages.

use std::{net::IpAddr, sync::Arc, time::Duration};

use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpStream, UdpSocket},
};

use aerie_client::{Fingerprint, Trust};
use aerie_domain::net::HostName;

use crate::syslog::{Format, octet_counted};

/// How long a connection attempt or a write may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest UDP datagram sent; longer messages lose trailing CEF pairs (RFC 5426 asks
/// receivers for at least 2,048 bytes; IPv4's limit is 65,507).
pub const UDP_MAX: usize = 8192;

/// The transport of a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// RFC 6587 octet counting over TCP.
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
    /// RFC 5426: one message per datagram.
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::Udp => "udp",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "tls" => Ok(Protocol::Tls),
            "udp" => Ok(Protocol::Udp),
            _ => Err(format!("{s:?} is not a protocol: use tcp, tls or udp")),
        }
    }
}

/// A SIEM receiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// An IP address or a host name.
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    #[serde(default)]
    pub format: Format,
    /// TLS: the receiver certificate's SHA-256 fingerprint (hex, colons optional); without
    /// one the receiver's certificate must chain to a CA of the trust store and name
    /// `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl Destination {
    /// `HOST:PORT`, as the CLI and the settings page name it (an IPv6 host in brackets).
    pub fn address(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Checks `HOST:PORT` (`[v6]:PORT` for IPv6) into its host and port; the error says what
/// was wrong.
pub fn parse_address(raw: &str) -> Result<(String, u16), String> {
    let wrong = || format!("{raw:?} is not HOST:PORT, e.g. 192.0.2.10:514 or siem.example:6514");
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(wrong)?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{host:?} in {raw:?} is not an IPv6 address"))?;
        (host.to_owned(), port)
    } else {
        let (host, port) = raw.rsplit_once(':').ok_or_else(wrong)?;
        if host.contains(':') {
            return Err(format!(
                "{raw:?}: write an IPv6 address in brackets, e.g. [2001:db8::5]:514"
            ));
        }
        if host.parse::<IpAddr>().is_err() {
            HostName::parse("host", host).map_err(|e| e.message)?;
        }
        (host.to_owned(), port)
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("{port:?} in {raw:?} is not a port from 1 to 65535")),
    };
    Ok((host, port))
}

/// Checks a TLS pin (a SHA-256 fingerprint) into its canonical text.
pub fn parse_pin(raw: &str) -> Result<String, String> {
    raw.parse::<Fingerprint>()
        .map(|f| f.to_string())
        .map_err(|_| {
            format!(
                "{raw:?} is not a SHA-256 certificate fingerprint: 64 hex digits, colons allowed"
            )
        })
}

/// Why a connection failed, in an operator's words.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    #[error("sending to {0} failed: {1}")]
    Write(String, String),
    #[error("{0} closed the connection")]
    Closed(String),
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

/// An open connection to a destination.
pub struct Connection {
    stream: Stream,
    address: String,
}

async fn timed<T, E: std::fmt::Display>(
    what: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(IO_TIMEOUT, what).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", IO_TIMEOUT.as_secs())),
    }
}

impl Connection {
    /// Connects to `d`. `trusted` are the CAs a TLS receiver without a pin must chain to;
    /// `fips` restricts TLS to FIPS-approved algorithms.
    pub async fn open(
        d: &Destination,
        trusted: &[CertificateDer<'static>],
        fips: bool,
    ) -> Result<Connection, SendError> {
        let address = d.address();
        let target = (d.host.as_str(), d.port);
        let connect_err = |e: String| SendError::Connect(address.clone(), e);
        let stream = match d.protocol {
            Protocol::Udp => {
                let peer = tokio::net::lookup_host(target)
                    .await
                    .map_err(|e| connect_err(e.to_string()))?
                    .next()
                    .ok_or_else(|| connect_err("the host name has no address".into()))?;
                let local = if peer.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local)
                    .await
                    .map_err(|e| connect_err(e.to_string()))?;
                socket
                    .connect(peer)
                    .await
                    .map_err(|e| connect_err(e.to_string()))?;
                Stream::Udp(socket)
            }
            Protocol::Tcp => Stream::Tcp(
                timed(TcpStream::connect(target))
                    .await
                    .map_err(connect_err)?,
            ),
            Protocol::Tls => {
                let tcp = timed(TcpStream::connect(target))
                    .await
                    .map_err(connect_err)?;
                let config =
                    tls_config(d, trusted, fips).map_err(|e| SendError::Tls(address.clone(), e))?;
                let name = ServerName::try_from(d.host.clone())
                    .map_err(|e| SendError::Tls(address.clone(), e.to_string()))?;
                let tls =
                    timed(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp))
                        .await
                        .map_err(|e| SendError::Tls(address.clone(), e))?;
                Stream::Tls(Box::new(tls))
            }
        };
        Ok(Connection { stream, address })
    }

    /// Whether the receiver closed its end (a syslog receiver never sends, so anything
    /// readable is the close or an error). Checked before each send: a write into a
    /// connection the peer already closed would seem to succeed and be lost. It asks the
    /// socket itself (a non-blocking `recv`), not tokio's readiness, which can lag the
    /// peer's FIN by a reactor turn.
    pub fn is_closed(&self) -> bool {
        let tcp = match &self.stream {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.get_ref().0,
            Stream::Udp(_) => return false,
        };
        let socket = socket2::SockRef::from(tcp);
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        loop {
            match socket.recv(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Ok(0) | Err(_) => return true,
                // Records a TLS receiver sends after the handshake (session tickets): we
                // never read the stream, so they are dropped; what follows decides.
                Ok(_) if matches!(self.stream, Stream::Tls(_)) => continue,
                // A plain receiver that sends is not a syslog receiver we know.
                Ok(_) => return true,
            }
        }
    }

    /// Sends `messages` in order, each framed for the transport; returns once the last
    /// is handed to the network.
    pub async fn send(&mut self, messages: &[String]) -> Result<(), SendError> {
        let address = self.address.clone();
        let write_err = |e: String| SendError::Write(address.clone(), e);
        match &mut self.stream {
            Stream::Udp(socket) => {
                for m in messages {
                    timed(socket.send(m.as_bytes())).await.map_err(write_err)?;
                }
            }
            Stream::Tcp(s) => write_framed(s, messages).await.map_err(write_err)?,
            Stream::Tls(s) => write_framed(s.as_mut(), messages)
                .await
                .map_err(write_err)?,
        }
        Ok(())
    }

    /// The most bytes one message may take on this connection.
    pub fn max_message(&self) -> usize {
        match self.stream {
            Stream::Udp(_) => UDP_MAX,
            _ => usize::MAX,
        }
    }
}

/// Writes `messages` octet-counted (RFC 6587) in one write, and flushes.
async fn write_framed(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    messages: &[String],
) -> Result<(), String> {
    let framed: String = messages.iter().map(|m| octet_counted(m)).collect();
    timed(w.write_all(framed.as_bytes())).await?;
    timed(w.flush()).await
}

fn tls_config(
    d: &Destination,
    trusted: &[CertificateDer<'static>],
    fips: bool,
) -> Result<rustls::ClientConfig, String> {
    if let Some(pin) = &d.pin {
        let pin = pin.parse::<Fingerprint>().map_err(|e| e.to_string())?;
        return Ok(aerie_client::stream_client_config(Trust::Pinned(pin), fips));
    }
    let mut roots = rustls::RootCertStore::empty();
    for ca in trusted {
        roots
            .add(ca.clone())
            .map_err(|e| format!("a trusted CA is unusable: {e}"))?;
    }
    if roots.is_empty() {
        return Err(
            "no pin and no trusted CA: pin the receiver's certificate or add its CA in \
             Certificate Management"
                .into(),
        );
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(aerie_client::provider(fips)))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("127.0.0.1:514").unwrap(),
            ("127.0.0.1".into(), 514)
        );
        assert_eq!(parse_address("[::1]:6514").unwrap(), ("::1".into(), 6514));
        assert_eq!(
            parse_address("siem.example:10514").unwrap(),
            ("siem.example".into(), 10514)
        );
        for (bad, says) in [
            ("127.0.0.1", "is not HOST:PORT"),
            ("::1:514", "in brackets"),
            ("127.0.0.1:0", "port from 1 to 65535"),
            ("127.0.0.1:70000", "port from 1 to 65535"),
            ("bad_host:514", "not a valid host name"),
            ("[zz]:514", "not an IPv6 address"),
        ] {
            let e = parse_address(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let d = Destination {
            host: "::1".into(),
            port: 514,
            protocol: Protocol::Udp,
            format: Format::Rfc5424,
            pin: None,
        };
        assert_eq!(d.address(), "[::1]:514");
        assert!(parse_pin("zz").unwrap_err().contains("64 hex digits"));
        assert_eq!(parse_pin(&"ab".repeat(32)).unwrap().len(), 95);
    }
}
