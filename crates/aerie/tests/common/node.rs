//! One appliance process (`aerie serve`) for the multi-process tests and benchmarks, on
//! the embedded SQLite default or on a PostgreSQL database of its own.

#![allow(dead_code)] // each test crate uses a part

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use aerie_client::{Client, Fingerprint};
use aerie_proto::incidents::{IncidentListParams, IncidentOut};

pub const AERIE: &str = env!("CARGO_BIN_EXE_aerie");
pub const PASSWORD: &str = "node-admin-password";

pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which store the nodes of a run use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub listen: SocketAddr,
    /// The PostgreSQL database URL, when the node runs on one.
    pub database: Option<String>,
    child: Option<Child>,
}

impl Node {
    /// A node on SQLite in `base/name`, listening on `ip`.
    pub fn new(base: &Path, name: &str, ip: &str) -> Node {
        let listen = format!("{ip}:{}", free_port(ip)).parse().unwrap();
        Node {
            name: name.into(),
            dir: base.join(name),
            listen,
            database: None,
            child: None,
        }
    }

    /// A node on `backend`: PostgreSQL gets a fresh database of the test server, or
    /// `None` when the server is unreachable outside CI (see `aerie_store::testing`).
    pub async fn on(backend: Backend, base: &Path, name: &str, ip: &str) -> Option<Node> {
        let mut node = Node::new(base, name, ip);
        if backend == Backend::Postgres {
            node.database = Some(aerie_store::testing::fresh_postgres_url().await?);
        }
        Some(node)
    }

    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// Starts the daemon with extra environment variables.
    pub fn start_with(&mut self, env: &[(&str, &str)]) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        let mut cmd = Command::new(AERIE);
        cmd.args(["serve", "--data-dir"])
            .arg(&self.dir)
            .args(["--listen", &self.listen.to_string()])
            .env("AERIE_ADMIN_PASSWORD", PASSWORD)
            .env("AERIE_HOSTNAME", &self.name)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(url) = &self.database {
            cmd.env("AERIE_DATABASE_URL", url);
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// Waits until the daemon answers, then returns an admin client.
    pub async fn admin(&self) -> Client {
        for _ in 0..1200 {
            if let Ok(pem) = std::fs::read_to_string(self.dir.join("tls/cert.pem"))
                && let Ok(client) = Client::new(&self.url(), Fingerprint::of_pem(&pem).unwrap())
                && let Ok((admin, _)) = client.login("admin", PASSWORD).await
            {
                return admin;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not come up:\n{}",
            self.name,
            std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
        );
    }

    /// Runs appliance CLI lines against the node's data directory.
    pub fn cli(&self, lines: &[&str]) -> String {
        let mut cmd = Command::new(AERIE);
        cmd.args(["cli", "--data-dir"]).arg(&self.dir);
        for line in lines {
            cmd.args(["-c", line]);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{}: {text}", self.name);
        text
    }

    /// Kills the node and copies its data dir and database (a crash-consistent backup).
    pub async fn snapshot(&mut self, to: &Path) {
        self.kill9();
        copy_dir(&self.dir, to);
        if let Some(url) = &self.database {
            aerie_store::testing::copy_postgres(url, &backup_of(url)).await;
        }
        self.start();
    }

    /// Kills the node and replaces its data dir and database by an older copy.
    pub async fn restore(&mut self, from: &Path) {
        self.kill9();
        std::fs::remove_dir_all(&self.dir).unwrap();
        copy_dir(from, &self.dir);
        if let Some(url) = &self.database {
            aerie_store::testing::copy_postgres(&backup_of(url), url).await;
        }
        self.start();
    }
}

/// The URL of the database that holds a node's backup.
fn backup_of(url: &str) -> String {
    format!("{url}_backup")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target).unwrap();
        } // not the CLI's socket: the daemon makes it anew
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every incident of a list, all pages (on the MCM, of one CM when `cm` is given).
pub async fn every_incident(client: &Client, cm: Option<i64>) -> Vec<IncidentOut> {
    let mut params = IncidentListParams {
        limit: Some(500),
        cm: cm.map(|c| c.to_string()),
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = client.incidents(&params).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(next) => params.after = Some(next),
            None => return out,
        }
    }
}
