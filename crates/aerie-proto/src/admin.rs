//! The local admin channel: requests from `aerie cli` to its daemon over the Unix socket
//! `DIR/admin.sock`, one JSON object per line each way. Whoever can open the socket (its
//! owner; mode 0600) is the appliance operator, so no password is asked.

use serde::{Deserialize, Serialize};

use crate::incidents::IncidentOut;

/// The socket's file name in the data directory.
pub const SOCKET_FILE: &str = "admin.sock";

/// What the CLI asks of the daemon. Values are validated by the CLI and again here.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Host name, role, version and FIPS state.
    Status,
    SetHostname {
        hostname: String,
    },
    SetFips {
        enabled: bool,
    },
    Users,
    /// Sets a user's password, creating the user (as admin) if absent.
    SetUserPassword {
        username: String,
        password: String,
    },
    ShowMcm,
    /// `set mcm ip ADDRESS passphrase P [username U]`.
    SetMcm {
        address: String,
        passphrase: String,
        username: Option<String>,
    },
    ResyncMcm,
    RemoveMcm,
    /// The `count` most recent incidents.
    Incidents {
        count: u32,
    },
    /// `show system`: the System Settings.
    ShowSystem,
    /// `set system SETTING VALUE` (`timezone`, `session-ttl`, `login-banner`, `port`,
    /// `software-updates`); `default` clears the ones that defer to the configuration.
    SetSystem {
        setting: String,
        value: String,
    },
    /// `set system rollback`: back to the software before the last update.
    Rollback,
    /// `show syslog`: the SIEM feed's destinations and their state.
    ShowSyslog,
    /// `set syslog server HOST:PORT protocol tcp|tls|udp [pin FINGERPRINT]`.
    SetSyslog {
        server: String,
        protocol: String,
        pin: Option<String>,
    },
    /// `set syslog remove HOST:PORT`.
    RemoveSyslog {
        server: String,
    },
    /// `set system backup FILE passphrase P`: a backup written to `FILE` (absolute).
    Backup {
        file: String,
        passphrase: String,
    },
}

impl std::fmt::Debug for AdminRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminRequest::SetUserPassword { username, .. } => {
                write!(
                    f,
                    "SetUserPassword {{ username: {username:?}, password: *** }}"
                )
            }
            AdminRequest::SetMcm {
                address, username, ..
            } => {
                write!(
                    f,
                    "SetMcm {{ address: {address:?}, passphrase: ***, username: {username:?} }}"
                )
            }
            AdminRequest::Status => f.write_str("Status"),
            AdminRequest::SetHostname { hostname } => write!(f, "SetHostname({hostname:?})"),
            AdminRequest::SetFips { enabled } => write!(f, "SetFips({enabled})"),
            AdminRequest::Users => f.write_str("Users"),
            AdminRequest::ShowMcm => f.write_str("ShowMcm"),
            AdminRequest::ResyncMcm => f.write_str("ResyncMcm"),
            AdminRequest::RemoveMcm => f.write_str("RemoveMcm"),
            AdminRequest::Incidents { count } => write!(f, "Incidents({count})"),
            AdminRequest::ShowSystem => f.write_str("ShowSystem"),
            AdminRequest::Rollback => f.write_str("Rollback"),
            AdminRequest::ShowSyslog => f.write_str("ShowSyslog"),
            AdminRequest::SetSyslog {
                server,
                protocol,
                pin,
            } => write!(f, "SetSyslog({server:?}, {protocol:?}, {pin:?})"),
            AdminRequest::RemoveSyslog { server } => write!(f, "RemoveSyslog({server:?})"),
            AdminRequest::SetSystem { setting, value } => {
                write!(f, "SetSystem({setting:?}, {value:?})")
            }
            AdminRequest::Backup { file, .. } => {
                write!(f, "Backup {{ file: {file:?}, passphrase: *** }}")
            }
        }
    }
}

/// The appliance as `show version`, `show hostname`, `show fips` and the prompt see it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApplianceStatus {
    pub hostname: String,
    /// `cm` or `mcm`.
    pub role: String,
    pub version: String,
    pub fips_enabled: bool,
    /// Which cryptographic module this build runs, stated honestly.
    pub crypto_module: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UserRow {
    pub username: String,
    pub role: String,
    pub disabled: bool,
}

/// `show mcm`: the configured MCM and how syncing with it goes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct McmStatus {
    /// The MCM address as configured; `None` when no MCM is configured.
    pub address: Option<String>,
    pub username: Option<String>,
    /// `mcm` when this box is the MCM.
    pub role: String,
    /// One line on the sync state, e.g. `connected` or `error: wrong passphrase`.
    pub state: Option<String>,
    pub last_sync: Option<String>,
    /// Incident changes not yet acknowledged by the MCM.
    pub backlog: Option<i64>,
    /// On the MCM: the registered CMs.
    pub cms: Option<i64>,
    /// What is wrong with the storage, when something is (a full disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// A SIEM feed destination as `show syslog` lists it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SyslogRow {
    /// `HOST:PORT`.
    pub server: String,
    /// `tcp`, `tls` (`tls pinned`) or `udp`.
    pub protocol: String,
    pub format: String,
    /// `connected`, `connecting` or `failing: WHY`.
    pub state: String,
    pub sent: u64,
    /// Incident changes and audit entries not yet sent.
    pub queue: i64,
    /// Seconds since it last had nothing left to send.
    pub lag_secs: u64,
    pub last_sent: Option<String>,
}

/// The daemon's answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum AdminReply {
    /// Done; an optional line to print.
    Done {
        message: Option<String>,
    },
    Status(ApplianceStatus),
    Users {
        users: Vec<UserRow>,
    },
    Mcm(McmStatus),
    Incidents {
        incidents: Vec<IncidentOut>,
    },
    /// Named values to print as a table, in order.
    Settings {
        rows: Vec<(String, String)>,
    },
    /// `show syslog`.
    Syslog {
        destinations: Vec<SyslogRow>,
    },
    /// Refused or failed; the text says what was wrong and how to fix it.
    Error {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_requests_never_show_their_passphrase() {
        let request = AdminRequest::Backup {
            file: "/var/backups/a.aerie-backup".into(),
            passphrase: "correct horse".into(),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("correct horse"), "{shown}");
        assert!(shown.contains("/var/backups/a.aerie-backup"), "{shown}");
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<AdminRequest>(&json).unwrap(),
            request
        );
    }
}
