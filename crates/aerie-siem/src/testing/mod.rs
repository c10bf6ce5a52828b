//! Test support: a real rsyslog (Debian's `rsyslog` + `rsyslog-gnutls`) of a test's own,
//! receiving on loopback over UDP, TCP and TLS (PEERS.md §3) and writing every message
//! to a file, one line each: `INPUT proto=N | RAW MESSAGE`.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const GTLS: &str = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so";

/// An rsyslog receiver.
pub struct Rsyslog {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub udp_port: u16,
    pub tcp_port: u16,
    pub tls_port: u16,
    /// The CA (PEM) that signed the TLS input's certificate (for 127.0.0.1 and localhost).
    pub ca_pem: String,
    /// The SHA-256 fingerprint of the TLS input's certificate.
    pub cert_fingerprint: String,
}

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// A CA and a certificate it signed for `names`: (CA PEM, certificate PEM and DER, key PEM).
fn certificates(names: &[&str]) -> (String, String, Vec<u8>, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Aerie rsyslog test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, cert.pem(), cert.der().to_vec(), key.serialize_pem())
}

impl Rsyslog {
    /// Starts rsyslog; `None` (with the reason printed) where it is not installed,
    /// outside CI.
    pub fn start() -> Option<Rsyslog> {
        for needed in [RSYSLOGD, GTLS] {
            if !Path::new(needed).exists() {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{needed} is required in CI: apt-get install rsyslog rsyslog-gnutls");
                }
                eprintln!("skipping: {needed} is missing (apt-get install rsyslog rsyslog-gnutls)");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("work")).unwrap();
        let (ca_pem, cert_pem, cert_der, key_pem) = certificates(&["127.0.0.1", "localhost"]);
        std::fs::write(d.join("ca.pem"), &ca_pem).unwrap();
        std::fs::write(d.join("cert.pem"), cert_pem).unwrap();
        std::fs::write(d.join("key.pem"), key_pem).unwrap();
        let (udp_port, tcp_port, tls_port) = (free_port(true), free_port(false), free_port(false));
        let config = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="64k"
       DefaultNetstreamDriverCAFile="{d}/ca.pem"
       DefaultNetstreamDriverCertFile="{d}/cert.pem"
       DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imudp")
module(load="imtcp" MaxSessions="100")
template(name="raw" type="string" string="%inputname% proto=%protocol-version% | %rawmsg%\n")
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="{tls_port}" ruleset="out" name="tls"
      StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
ruleset(name="out") {{ action(type="omfile" file="{d}/received.log" template="raw" flushOnTXEnd="on" asyncWriting="off") }}
"#,
            d = d.display()
        );
        std::fs::write(d.join("rsyslog.conf"), config).unwrap();
        let checked = Command::new(RSYSLOGD)
            .args(["-N1", "-f"])
            .arg(d.join("rsyslog.conf"))
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "rsyslog refused its configuration: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
        let fingerprint = aerie_client::Fingerprint::of(&cert_der).to_string();
        let mut r = Rsyslog {
            child: None,
            dir,
            udp_port,
            tcp_port,
            tls_port,
            ca_pem,
            cert_fingerprint: fingerprint,
        };
        r.restart();
        Some(r)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts it again after [`Rsyslog::stop`] (the same ports and file).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "rsyslog is running");
        let _ = std::fs::remove_file(self.path("pid"));
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(self.path("rsyslog.conf"))
            .arg("-i")
            .arg(self.path("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.tcp_port)).is_err() {
            assert!(Instant::now() < deadline, "rsyslog did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGTERM, as an operator's restart does) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as `(input, raw message)`.
    pub fn received(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.path("received.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (head, raw) = l.split_once(" | ")?;
                Some((head.split(' ').next()?.to_owned(), raw.to_owned()))
            })
            .collect()
    }

    /// How many messages arrived so far (a count of the file's lines: cheap enough to
    /// poll for large runs).
    pub fn count(&self) -> usize {
        std::fs::read(self.path("received.log"))
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages whose raw text contains `needle` arrived (or
    /// `within` passed), and returns those.
    pub async fn wait_for(
        &self,
        needle: &str,
        n: usize,
        within: Duration,
    ) -> Vec<(String, String)> {
        let deadline = Instant::now() + within;
        loop {
            let got: Vec<_> = self
                .received()
                .into_iter()
                .filter(|(_, raw)| raw.contains(needle))
                .collect();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message as a SIEM reads it back: the syslog fields (parsed by `syslog_loose`) and
/// the CEF header and extension, unescaped.
#[derive(Debug, Clone)]
pub struct Received {
    pub hostname: Option<String>,
    pub appname: Option<String>,
    pub msgid: Option<String>,
    /// `CEF:0`, vendor, product, version, signature id, name, severity.
    pub header: Vec<String>,
    pub ext: std::collections::HashMap<String, String>,
}

/// Reads a raw syslog message carrying CEF; panics with the message if it is not one.
pub fn parse(raw: &str) -> Received {
    let m = syslog_loose::parse_message(raw, syslog_loose::Variant::Either);
    let body = m.msg;
    let (header, rest) = split_header(body).unwrap_or_else(|| panic!("not CEF: {raw}"));
    Received {
        hostname: m.hostname.map(str::to_owned),
        appname: m.appname.map(str::to_owned),
        msgid: m.msgid.map(str::to_owned),
        header,
        ext: extension(rest),
    }
}

/// The seven header fields (unescaped) and the extension's text.
fn split_header(body: &str) -> Option<(Vec<String>, &str)> {
    let start = body.find("CEF:")?;
    let body = &body[start..];
    let mut fields = Vec::new();
    let (mut field, mut escaped) = (String::new(), false);
    for (i, c) in body.char_indices() {
        match (escaped, c) {
            (true, 'n') => {
                field.push('\n');
                escaped = false
            }
            (true, 'r') => {
                field.push('\r');
                escaped = false
            }
            (true, c) => {
                field.push(c);
                escaped = false
            }
            (false, '\\') => escaped = true,
            (false, '|') => {
                fields.push(std::mem::take(&mut field));
                if fields.len() == 7 {
                    return Some((fields, &body[i + 1..]));
                }
            }
            (false, c) => field.push(c),
        }
    }
    None
}

/// `key=value` pairs: a key is the alphanumeric word before an unescaped `=`, its value
/// runs to the space before the next key.
fn extension(text: &str) -> std::collections::HashMap<String, String> {
    let bytes = text.as_bytes();
    let mut equals = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' => {
                equals.push(i);
                i += 1
            }
            _ => i += 1,
        }
    }
    let key_start = |eq: usize| {
        let mut k = eq;
        while k > 0 && bytes[k - 1].is_ascii_alphanumeric() {
            k -= 1;
        }
        k
    };
    let mut out = std::collections::HashMap::new();
    for (n, &eq) in equals.iter().enumerate() {
        let key = &text[key_start(eq)..eq];
        let end = match equals.get(n + 1) {
            Some(&next) => key_start(next).saturating_sub(1),
            None => text.len(),
        };
        out.insert(
            key.to_owned(),
            crate::cef::unescape(&text[eq + 1..end.max(eq + 1)]),
        );
    }
    out
}
