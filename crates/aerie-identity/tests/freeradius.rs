//! The RADIUS client against a real FreeRADIUS (Debian's `freeradius`), started on a
//! loopback port with a trimmed configuration (PEERS.md §2).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use aerie_identity::radius::{RadiusConfig, RadiusError, RadiusServer, packet::AnswerError};

const SECRET: &str = "testing123-aerie";
const FREERADIUS: &str = "/usr/sbin/freeradius";

struct FreeRadius {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl FreeRadius {
    /// What the server logged (`-X`), for failure messages.
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// FreeRADIUS with two users: alice (Class aerie-admin) and bob (Filter-Id aerie-viewer).
fn freeradius() -> Option<FreeRadius> {
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

/// FreeRADIUS answers a reject after its `reject_delay` (1 s by default): the timeout
/// allows for it.
fn config(servers: &[(SocketAddr, &str)]) -> RadiusConfig {
    RadiusConfig {
        servers: servers
            .iter()
            .map(|(addr, secret)| RadiusServer {
                addr: *addr,
                secret: secret.as_bytes().to_vec().into(),
            })
            .collect(),
        timeout: Duration::from_millis(2500),
        retries: 1,
        require_message_authenticator: false,
        nas_identifier: "aerie-test".into(),
    }
}

#[tokio::test]
async fn logins_against_freeradius() {
    let Some(radius) = freeradius() else {
        return;
    };
    let good = config(&[(radius.addr, SECRET)]);

    let alice = match good.authenticate("alice", "alicepass").await {
        Ok(verdict) => verdict,
        Err(e) => panic!("{e}\nFreeRADIUS:\n{}", radius.log()),
    };
    assert!(alice.accepted);
    assert_eq!(alice.classes, ["aerie-admin"]);
    assert_eq!(alice.messages, ["Hello alice"]);
    let bob = good.authenticate("bob", "bobpass").await.unwrap();
    assert!(bob.accepted);
    assert_eq!(bob.filter_ids, ["aerie-viewer"]);

    let wrong = good
        .authenticate("alice", "not her password")
        .await
        .unwrap();
    assert!(!wrong.accepted, "a wrong password is an Access-Reject");
    let nobody = good.authenticate("mallory", "x").await.unwrap();
    assert!(!nobody.accepted);

    // A wrong shared secret: FreeRADIUS drops the request (its Message-Authenticator
    // does not verify), and the error says to check the secret.
    let bad_secret = RadiusConfig {
        timeout: Duration::from_millis(300),
        ..config(&[(radius.addr, "not the secret")])
    };
    let err = bad_secret
        .authenticate("alice", "alicepass")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RadiusError::Timeout { tries: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("check the shared secret"), "{err}");

    // A server that is down: said so, and the next server answers.
    let down: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let err = config(&[(down, SECRET)])
        .authenticate("alice", "alicepass")
        .await
        .unwrap_err();
    assert_eq!(err, RadiusError::Refused { server: down });
    let failover = config(&[(down, SECRET), (radius.addr, SECRET)]);
    let verdict = failover.authenticate("alice", "alicepass").await.unwrap();
    assert!(verdict.accepted);
    assert_eq!(verdict.server, radius.addr, "the second server answered");

    // Debian's FreeRADIUS 3.2.1 sends no Message-Authenticator: requiring one refuses it.
    let strict = RadiusConfig {
        require_message_authenticator: true,
        ..good.clone()
    };
    let err = strict.authenticate("alice", "alicepass").await.unwrap_err();
    assert_eq!(
        err,
        RadiusError::Untrusted {
            server: radius.addr,
            problem: AnswerError::NoMessageAuthenticator
        }
    );
}
