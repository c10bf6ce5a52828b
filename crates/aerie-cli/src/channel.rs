//! The CLI's end of the local admin channel: JSON lines over `DIR/admin.sock`.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use aerie_proto::admin::{AdminReply, AdminRequest, SOCKET_FILE};

use crate::CliError;

/// How long a reply may take, unless a command says otherwise ([`Channel::set_timeout`]).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to the running daemon of one data directory.
pub struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Channel {
    pub fn connect(data_dir: &Path) -> Result<Channel, CliError> {
        let path: PathBuf = data_dir.join(SOCKET_FILE);
        let stream = UnixStream::connect(&path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    "the aerie daemon is not running".to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    format!(
                        "no permission to open {} — run the CLI as the daemon's user",
                        path.display()
                    )
                }
                _ => format!("cannot open {}: {e}", path.display()),
            };
            CliError::Daemon(format!(
                "{why} — start it with: aerie serve --data-dir {}",
                data_dir.display()
            ))
        })?;
        // Registration with an MCM may take a while; nothing else should (a backup says so).
        stream.set_read_timeout(Some(TIMEOUT)).ok();
        let writer = stream
            .try_clone()
            .map_err(|e| CliError::Daemon(e.to_string()))?;
        Ok(Channel {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// How long the next replies may take.
    pub fn set_timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).ok();
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: &AdminRequest) -> Result<AdminReply, CliError> {
        let lost = |e: std::io::Error| CliError::Daemon(format!("lost the daemon: {e}"));
        let mut line = serde_json::to_string(request).expect("requests serialise");
        line.push('\n');
        self.writer.write_all(line.as_bytes()).map_err(lost)?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply).map_err(lost)? == 0 {
            return Err(CliError::Daemon(
                "the daemon closed the admin channel".to_owned(),
            ));
        }
        serde_json::from_str(&reply)
            .map_err(|e| CliError::Daemon(format!("unreadable reply from the daemon: {e}")))
    }
}
