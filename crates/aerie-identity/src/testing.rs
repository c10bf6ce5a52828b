//! Test support: a real FreeRADIUS (Debian's `freeradius`), started on a loopback port
//! with a trimmed configuration (PEERS.md §2).

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

/// A SimpleSAMLphp IdP of a test's own (Debian's `simplesamlphp`, PHP's built-in
/// server on a loopback port; PEERS.md §1). Users: alice/alicepass (groups
/// soc-analysts) and victor/victorpass (groups soc-viewers); the NameID is the mail.
pub struct SimpleSamlPhp {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for SimpleSamlPhp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SSP_WWW: &str = "/usr/share/simplesamlphp/www";

impl SimpleSamlPhp {
    /// Starts the IdP, trusting one SP (`sp_entity_id`, its ACS at `acs_url`); `None`
    /// (with the reason printed) where SimpleSAMLphp is not installed, outside CI.
    /// A second SP entity, `{sp_entity_id}-unsigned`, gets its assertions unsigned (the
    /// response alone signed), for tests that must refuse them.
    pub fn start(sp_entity_id: &str, acs_url: &str) -> Option<SimpleSamlPhp> {
        if !Path::new(SSP_WWW).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("SimpleSAMLphp is required in CI: apt-get install simplesamlphp php8.2-xml");
            }
            eprintln!("skipping: SimpleSAMLphp is missing (apt-get install simplesamlphp)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for sub in ["metadata", "cert", "log", "data", "tmp", "sess"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Debian's config.php ends by requiring a root-only secrets file: left out.
        let base = std::fs::read_to_string("/etc/simplesamlphp/config.php").unwrap();
        let base = base.replace(
            "require_once('/var/lib/simplesamlphp/secrets.inc.php');",
            "",
        );
        write(&d.join("config-base.php"), &base);
        let dp = d.display();
        write(
            &d.join("config.php"),
            &format!(
                "<?php\ninclude __DIR__.'/config-base.php';\n$config = array_merge($config, [\n\
                 'baseurlpath' => 'http://127.0.0.1:{port}/',\n\
                 'secretsalt' => 'aerie-test-salt-0123456789',\n\
                 'auth.adminpassword' => 'aerie-test-admin',\n\
                 'enable.saml20-idp' => true,\n\
                 'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],\n\
                 'metadatadir' => '{dp}/metadata/',\n\
                 'certdir' => '{dp}/cert/',\n\
                 'loggingdir' => '{dp}/log/',\n\
                 'datadir' => '{dp}/data/',\n\
                 'tempdir' => '{dp}/tmp/',\n\
                 'logging.handler' => 'file',\n\
                 'session.cookie.secure' => false,\n\
                 'timezone' => 'UTC',\n\
                 ]);\n"
            ),
        );
        write(
            &d.join("authsources.php"),
            "<?php\n$config = [\n'admin' => ['core:AdminPassword'],\n\
             'example-userpass' => ['exampleauth:UserPass',\n\
             'alice:alicepass' => ['uid' => ['alice'], 'mail' => ['alice@example.com'], 'groups' => ['soc-analysts']],\n\
             'victor:victorpass' => ['uid' => ['victor'], 'mail' => ['victor@example.com'], 'groups' => ['soc-viewers']],\n\
             ],\n];\n",
        );
        write(
            &d.join("metadata/saml20-idp-hosted.php"),
            "<?php\n$metadata['__DYNAMIC:1__'] = [\n'host' => '__DEFAULT__',\n\
             'privatekey' => 'idp.key', 'certificate' => 'idp.crt', 'auth' => 'example-userpass',\n\
             'authproc' => [3 => ['class' => 'saml:AttributeNameID', 'attribute' => 'mail',\n\
             'Format' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress']],\n];\n",
        );
        write(
            &d.join("metadata/saml20-sp-remote.php"),
            &format!(
                "<?php\n$metadata['{sp_entity_id}'] = [\n\
                 'AssertionConsumerService' => '{acs_url}',\n\
                 'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n\
                 'saml20.sign.response' => true, 'saml20.sign.assertion' => true,\n];\n\
                 $metadata['{sp_entity_id}-unsigned'] = [\n\
                 'AssertionConsumerService' => '{acs_url}',\n\
                 'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n\
                 'saml20.sign.response' => true, 'saml20.sign.assertion' => false,\n];\n"
            ),
        );
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=test-idp",
                "-keyout",
            ])
            .arg(d.join("cert/idp.key"))
            .arg("-out")
            .arg(d.join("cert/idp.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl made the IdP's certificate");
        let child = Command::new("php")
            .arg("-d")
            .arg(format!("session.save_path={dp}/sess"))
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", SSP_WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let idp = SimpleSamlPhp {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(idp);
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("SimpleSAMLphp did not start on port {port}");
    }

    /// The IdP's entity id (its metadata URL).
    pub fn entity_id(&self) -> String {
        format!("http://127.0.0.1:{}/saml2/idp/metadata.php", self.port)
    }
}
