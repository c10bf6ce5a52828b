//! A PostgreSQL server of a test's own (Debian's binaries, `initdb` in a temporary
//! directory, loopback only), for tests that stop and start it. Run as the `postgres`
//! user when the test runs as root (PostgreSQL refuses to run as root).

#![allow(dead_code)]

use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct PrivatePostgres {
    bindir: PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
    /// The uid and gid it runs as.
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

/// The `postgres` user's uid and gid, from /etc/passwd.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

impl PrivatePostgres {
    /// Creates and starts a fresh server, or `None` (with the reason printed) where
    /// PostgreSQL's server binaries are missing, outside CI.
    pub fn start() -> Option<PrivatePostgres> {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|dir| dir.join("initdb").exists());
        let Some(bindir) = bindir else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL's server binaries (initdb, postgres) are required in CI");
            }
            eprintln!("skipping: no PostgreSQL server binaries (pg_config --bindir)");
            return None;
        };
        let user = if running_as_root() {
            Some(postgres_user().expect("a postgres user to run PostgreSQL as"))
        } else {
            None
        };
        let data = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(data.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(data.path().join("db"))
            .stdout(Stdio::null());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::node::free_port("127.0.0.1");
        let mut server = PrivatePostgres {
            bindir,
            data,
            port,
            user,
            child: None,
        };
        server.run();
        Some(server)
    }

    /// Starts the server on its data directory (after a crash: with recovery).
    pub fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("server.log"))
            .unwrap();
        let mut cmd = Command::new(self.bindir.join("postgres"));
        cmd.arg("-D")
            .arg(self.data.path().join("db"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.data.path().display()
            ))
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        self.child = Some(cmd.spawn().unwrap());
        for _ in 0..200 {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .unwrap();
            if ready.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the private PostgreSQL did not start:\n{}",
            std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server as a crash would (an immediate shutdown: no checkpoint, every
    /// session cut; the next start recovers from the write-ahead log).
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status()
                .unwrap();
            child.wait().unwrap();
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn create_database(&self, name: &str) {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether the test runs as root (`id -u`: no libc binding for one call).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.crash();
    }
}
