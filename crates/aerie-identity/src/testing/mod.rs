//! Test support: a real FreeRADIUS (Debian's `freeradius`), started on a loopback port
//! with a trimmed configuration (PEERS.md §2), and a real SimpleSAMLphp IdP (§1) with a
//! scripted browser to log in at it.

mod simplesamlphp;

pub use simplesamlphp::{ScriptedBrowser, SimpleSamlPhp};

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

/// The shared secret the server knows its client 127.0.0.1 by.
pub const SECRET: &str = "testing123-aerie";
const FREERADIUS: &str = "/usr/sbin/freeradius";

/// A FreeRADIUS server of a test's own.
pub struct FreeRadius {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl FreeRadius {
    /// What the server logged (`-X`), for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address where nothing listens (for a server that is down).
pub fn closed_udp_port() -> SocketAddr {
    format!("127.0.0.1:{}", free_udp_port()).parse().unwrap()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

impl FreeRadius {
    /// Starts FreeRADIUS with two users: alice/alicepass (Class aerie-admin) and
    /// bob/bobpass (Filter-Id aerie-viewer); `None` (with the reason printed) where it is
    /// not installed, outside CI.
    pub fn start() -> Option<FreeRadius> {
        if !Path::new(FREERADIUS).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{FREERADIUS} is required in CI: apt-get install freeradius");
            }
            eprintln!("skipping: {FREERADIUS} is missing (apt-get install freeradius)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let raddb = dir.path().join("raddb");
        let copied = Command::new("cp")
            .args(["-a", "/etc/freeradius/3.0"])
            .arg(&raddb)
            .status()
            .unwrap();
        assert!(copied.success());
        write(
            &raddb.join("clients.conf"),
            &format!(
                "client localhost {{\n  ipaddr = 127.0.0.1\n  secret = {SECRET}\n  \
             require_message_authenticator = yes\n}}\n"
            ),
        );
        write(
            &raddb.join("mods-config/files/authorize"),
            "alice Cleartext-Password := \"alicepass\"\n\
         \tReply-Message := \"Hello alice\", Class := \"aerie-admin\"\n\n\
         bob Cleartext-Password := \"bobpass\"\n\
         \tFilter-Id := \"aerie-viewer\"\n",
        );
        for sub in ["sites-enabled", "mods-enabled"] {
            for entry in std::fs::read_dir(raddb.join(sub)).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if sub == "sites-enabled"
                    || !["always", "expr", "files", "pap", "utf8"].contains(&name.as_str())
                {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
        }
        let port = free_udp_port();
        write(
            &raddb.join("sites-enabled/aerie-test"),
            &format!(
                "server aerie-test {{\n  listen {{\n    type = auth\n    ipaddr = 127.0.0.1\n    \
             port = {port}\n  }}\n  authorize {{\n    files\n    pap\n  }}\n  \
             authenticate {{\n    Auth-Type PAP {{\n      pap\n    }}\n  }}\n  post-auth {{\n  }}\n}}\n"
            ),
        );
        // Started as root, FreeRADIUS runs as freerad, which must read the copy.
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(dir.path())
            .status()
            .unwrap();
        let mut child = Command::new(FREERADIUS)
            .args(["-X", "-l", "stdout", "-d"])
            .arg(&raddb)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut log = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Ready to process requests") => break,
                Some(Ok(line)) => log.push(line),
                _ => panic!("FreeRADIUS did not start:\n{}", log.join("\n")),
            }
        }
        // Keep reading its log, so that it never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Some(FreeRadius {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
            _dir: dir,
        })
    }
}
