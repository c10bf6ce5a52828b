//! One operator session against one daemon: its mode, its channel, its history, and the
//! questions a command may put to the operator.

use std::path::Path;

use aerie_proto::admin::{AdminReply, AdminRequest, ApplianceStatus};

use crate::{CliError, channel::Channel, grammar::Mode};

/// What the session does after a line.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Questions a command may put to the operator.
pub trait Ask {
    fn confirm(&mut self, question: &str) -> Result<bool, CliError>;
    fn secret(&mut self, prompt: &str) -> Result<String, CliError>;
}

/// One operator session against one daemon.
pub struct Session {
    pub mode: Mode,
    pub channel: Channel,
    /// Lines entered, passphrases masked.
    pub history: Vec<String>,
    pub status: ApplianceStatus,
}

impl Session {
    pub fn open(data_dir: &Path) -> Result<Session, CliError> {
        let mut channel = Channel::connect(data_dir)?;
        let status = fetch_status(&mut channel)?;
        Ok(Session {
            mode: Mode::Basic,
            channel,
            history: Vec::new(),
            status,
        })
    }

    /// Re-reads the appliance status (host name and role show in the prompt).
    pub fn refresh(&mut self) -> Result<ApplianceStatus, CliError> {
        self.status = fetch_status(&mut self.channel)?;
        Ok(self.status.clone())
    }

    /// `host# `, `host(cm)# `; on the MCM the device type shows: `host:mcm(cm)# `.
    pub fn prompt(&self) -> String {
        let device = if self.status.role == "mcm" {
            ":mcm"
        } else {
            ""
        };
        let mode = if self.mode == Mode::Cm { "(cm)" } else { "" };
        format!("{}{device}{mode}# ", self.status.hostname)
    }
}

fn fetch_status(channel: &mut Channel) -> Result<ApplianceStatus, CliError> {
    match channel.call(&AdminRequest::Status)? {
        AdminReply::Status(status) => Ok(status),
        AdminReply::Error { error } => Err(CliError::Daemon(error)),
        other => Err(CliError::Daemon(format!("unexpected reply: {other:?}"))),
    }
}
