//! What each command does: build the admin request, ask the daemon, print the reply.

use std::io::Write;

use aerie_proto::admin::{AdminReply, AdminRequest, McmStatus};

use crate::{
    CliError,
    grammar::{self, Arg, Command, Mode, Outcome, Parsed},
    session::{Ask, Flow, Session},
};

fn out(w: &mut dyn Write, text: &str) -> Result<(), CliError> {
    writeln!(w, "{text}").map_err(|e| CliError::Daemon(format!("cannot write output: {e}")))
}

/// Turns a reply that is not the expected shape into an error.
fn refused(reply: AdminReply) -> CliError {
    match reply {
        AdminReply::Error { error } => CliError::Daemon(error),
        other => CliError::Daemon(format!("unexpected reply from the daemon: {other:?}")),
    }
}

/// Sends a request that answers `Done` and prints its message.
fn done(s: &mut Session, w: &mut dyn Write, request: AdminRequest) -> Result<(), CliError> {
    match s.channel.call(&request)? {
        AdminReply::Done { message } => message.map_or(Ok(()), |m| out(w, &m)),
        other => Err(refused(other)),
    }
}

/// Handles one line of a session: `?` help, incomplete-line help, or a command.
pub fn handle(
    s: &mut Session,
    line: &str,
    w: &mut dyn Write,
    ask: &mut dyn Ask,
    strict: bool,
) -> Result<Flow, CliError> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(Flow::Continue);
    }
    s.history.push(grammar::mask(trimmed));
    if let Some(prefix) = trimmed.strip_suffix('?') {
        return match grammar::help(s.mode, prefix) {
            Outcome::Incomplete(choices) => {
                out(w, &grammar::render(&choices))?;
                Ok(Flow::Continue)
            }
            Outcome::Error(e) => Err(CliError::Input(e)),
            _ => Ok(Flow::Continue),
        };
    }
    match grammar::parse(s.mode, trimmed) {
        Outcome::Empty => Ok(Flow::Continue),
        Outcome::Incomplete(choices) => {
            out(w, &grammar::render(&choices))?;
            if strict {
                Err(CliError::Input(format!(
                    "incomplete command {:?}: it continues with one of the above",
                    grammar::mask(trimmed)
                )))
            } else {
                Ok(Flow::Continue)
            }
        }
        Outcome::Error(e) => Err(CliError::Input(e)),
        Outcome::Run(parsed) => execute(s, &parsed, w, ask),
    }
}

fn execute(
    s: &mut Session,
    p: &Parsed,
    w: &mut dyn Write,
    ask: &mut dyn Ask,
) -> Result<Flow, CliError> {
    match p.command {
        Command::EnterCm => {
            s.mode = Mode::Cm;
            out(w, "Entering the Central Manager configuration mode...")?;
        }
        Command::Exit => {
            if s.mode == Mode::Cm {
                s.mode = Mode::Basic;
            } else {
                return Ok(Flow::Quit);
            }
        }
        Command::Help => {
            let mode = if s.mode == Mode::Cm {
                "Central Manager configuration"
            } else {
                "basic"
            };
            out(
                w,
                &format!(
                    "Commands of the {mode} mode (end a partial command with ? for what follows):"
                ),
            )?;
            out(
                w,
                &grammar::render(&grammar::choices(grammar::roots(s.mode), false)),
            )?;
        }
        Command::History => {
            for (i, line) in s.history.iter().enumerate() {
                out(w, &format!("{:4}  {line}", i + 1))?;
            }
        }
        Command::ShowVersion => {
            let st = s.refresh()?;
            out(
                w,
                &format!("Aerie version {} (device type: {})", st.version, st.role),
            )?;
        }
        Command::ShowHostname => {
            let st = s.refresh()?;
            out(w, &format!("Hostname: {}", st.hostname))?;
        }
        Command::SetHostname => {
            let Some(Arg::HostName(hostname)) = p.value("hostname") else {
                unreachable!("the grammar requires a host name")
            };
            let hostname = hostname.as_str().to_owned();
            done(s, w, AdminRequest::SetHostname { hostname })?;
            s.refresh()?;
        }
        Command::ShowSystem => match s.channel.call(&AdminRequest::ShowSystem)? {
            AdminReply::Settings { rows } => {
                let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                for (k, v) in rows {
                    out(w, &format!("{k:width$}  {v}"))?;
                }
            }
            other => return Err(refused(other)),
        },
        Command::SetSystem => {
            // `set system SETTING VALUE` or `set system software-updates enable|disable`.
            let setting = p.words.get(2).cloned().unwrap_or_default();
            let value = match p.arg("value") {
                Some(v) => v.to_owned(),
                None => p.words.get(3).cloned().unwrap_or_default(),
            };
            done(s, w, AdminRequest::SetSystem { setting, value })?;
        }
        Command::Rollback => done(s, w, AdminRequest::Rollback)?,
        Command::ShowSyslog => match s.channel.call(&AdminRequest::ShowSyslog)? {
            AdminReply::Syslog { destinations } if destinations.is_empty() => out(
                w,
                "No syslog server. Add one: set syslog server HOST:PORT protocol tcp|tls|udp",
            )?,
            AdminReply::Syslog { destinations } => {
                out(
                    w,
                    &format!(
                        "{:28}  {:10}  {:7}  {:>8}  {:>7}  {:>7}  {:24}  STATE",
                        "SERVER", "PROTOCOL", "FORMAT", "SENT", "QUEUE", "LAG", "LAST SENT"
                    ),
                )?;
                for d in destinations {
                    out(
                        w,
                        &format!(
                            "{:28}  {:10}  {:7}  {:>8}  {:>7}  {:>6}s  {:24}  {}",
                            d.server,
                            d.protocol,
                            d.format,
                            d.sent,
                            d.queue,
                            d.lag_secs,
                            d.last_sent.as_deref().unwrap_or("-"),
                            d.state
                        ),
                    )?;
                }
            }
            other => return Err(refused(other)),
        },
        Command::SetSyslog => {
            let server = p.arg("server").unwrap_or_default().to_owned();
            let protocol = ["tcp", "tls", "udp"]
                .into_iter()
                .find(|w| p.has_word(w))
                .unwrap_or_default()
                .to_owned();
            let pin = p.arg("pin").map(str::to_owned);
            done(
                s,
                w,
                AdminRequest::SetSyslog {
                    server,
                    protocol,
                    pin,
                },
            )?;
        }
        Command::RemoveSyslog => {
            let server = p.arg("server").unwrap_or_default().to_owned();
            done(s, w, AdminRequest::RemoveSyslog { server })?;
        }
        Command::SystemBackup => {
            let (Some(file), Some(Arg::Passphrase(passphrase))) =
                (p.arg("file"), p.value("passphrase"))
            else {
                unreachable!("the grammar requires a file and a passphrase")
            };
            if !file.starts_with('/') {
                return Err(CliError::Input(format!(
                    "{file:?} is a relative path — give the backup's absolute path, e.g. \
                     /var/backups/appliance.aerie-backup (the daemon writes it, not this shell)"
                )));
            }
            let request = AdminRequest::Backup {
                file: file.to_owned(),
                passphrase: passphrase.expose().to_owned(),
            };
            // A large store takes a while to copy and seal.
            s.channel.set_timeout(std::time::Duration::from_secs(3600));
            let result = done(s, w, request);
            s.channel.set_timeout(crate::channel::TIMEOUT);
            result?;
        }
        Command::ShowFips => {
            let st = s.refresh()?;
            out(
                w,
                &format!(
                    "FIPS mode: {}",
                    if st.fips_enabled {
                        "enabled"
                    } else {
                        "disabled"
                    }
                ),
            )?;
            out(w, &format!("Cryptographic module: {}", st.crypto_module))?;
        }
        Command::SetFips => {
            let enabled = p.has_word("enable");
            if !p.has_word("confirm") {
                let question = format!(
                    "{} FIPS mode changes how device keys are derived: this appliance and its \
                     MCM or CMs must all be in the same mode. Continue? [y/N] ",
                    if enabled { "Enabling" } else { "Disabling" }
                );
                if !ask.confirm(&question)? {
                    out(w, "FIPS mode unchanged.")?;
                    return Ok(Flow::Continue);
                }
            }
            done(s, w, AdminRequest::SetFips { enabled })?;
        }
        Command::ShowUsers => match s.channel.call(&AdminRequest::Users)? {
            AdminReply::Users { users } => {
                out(w, &format!("{:24} {:8} {}", "USER", "ROLE", "STATE"))?;
                for u in users {
                    let state = if u.disabled { "disabled" } else { "enabled" };
                    out(w, &format!("{:24} {:8} {state}", u.username, u.role))?;
                }
            }
            other => return Err(refused(other)),
        },
        Command::SetUserPassword => {
            let Some(Arg::UserName(username)) = p.value("username") else {
                unreachable!("the grammar requires a user name")
            };
            let username = username.as_str().to_owned();
            let password = ask.secret(&format!("New password for {username}: "))?;
            aerie_domain::user::check_password("password", &password)
                .map_err(|e| CliError::Input(format!("the password {}", e.message)))?;
            done(s, w, AdminRequest::SetUserPassword { username, password })?;
        }
        Command::SetMcm => {
            let (Some(Arg::McmAddress(address)), Some(Arg::Passphrase(passphrase))) =
                (p.value("ip"), p.value("passphrase"))
            else {
                unreachable!("the grammar requires an address and a passphrase")
            };
            let username = match p.value("username") {
                Some(Arg::UserName(u)) => Some(u.as_str().to_owned()),
                _ => None,
            };
            let request = AdminRequest::SetMcm {
                address: address.to_string(),
                passphrase: passphrase.expose().to_owned(),
                username,
            };
            done(s, w, request)?;
            s.refresh()?;
        }
        Command::ResyncMcm => done(s, w, AdminRequest::ResyncMcm)?,
        Command::RemoveMcm => {
            let on_mcm = s.refresh()?.role == "mcm";
            if on_mcm && !p.has_word("confirm") {
                let question = "This appliance is the MCM: removing its configuration deletes                                 every CM's incidents from it, deregisters every CM and makes it                                 a CM again. Continue? [y/N] ";
                if !ask.confirm(question)? {
                    out(w, "MCM configuration unchanged.")?;
                    return Ok(Flow::Continue);
                }
            }
            done(s, w, AdminRequest::RemoveMcm)?;
            s.refresh()?;
        }
        Command::ShowMcm => match s.channel.call(&AdminRequest::ShowMcm)? {
            AdminReply::Mcm(status) => out(w, &show_mcm(&status))?,
            other => return Err(refused(other)),
        },
        Command::ShowIncidents => {
            let count = match p.value("count") {
                Some(Arg::Count(n)) => *n,
                _ => 10,
            };
            match s.channel.call(&AdminRequest::Incidents { count })? {
                AdminReply::Incidents { incidents } => {
                    let on_mcm = incidents.iter().any(|i| i.cm_id.is_some());
                    let cm_header = if on_mcm {
                        format!("{:16}  ", "CM NAME")
                    } else {
                        String::new()
                    };
                    out(
                        w,
                        &format!(
                            "{cm_header}{:>8}  {:24}  {:8}  {:15}  {:12}  THREAT",
                            "ID", "LAST ACTIVITY", "RISK", "ENDPOINT", "STATUS"
                        ),
                    )?;
                    for i in incidents {
                        // Control characters dropped, invisible ones shown as <U+XXXX>.
                        let printable = |s: &str, n: usize| -> String {
                            let shown: String = s.chars().filter(|c| !c.is_control()).collect();
                            aerie_domain::text::visible(&shown)
                                .chars()
                                .take(n)
                                .collect()
                        };
                        let cm = match &i.cm_name {
                            Some(name) => format!("{:16}  ", printable(name, 16)),
                            None if on_mcm => format!("{:16}  ", "?"),
                            None => String::new(),
                        };
                        out(
                            w,
                            &format!(
                                "{cm}{:>8}  {:24}  {:8}  {:15}  {:12}  {}",
                                i.incident_id,
                                i.last_activity_time,
                                i.risk,
                                i.endpoint_ip,
                                i.status,
                                printable(&i.threat_name, 40)
                            ),
                        )?;
                    }
                }
                other => return Err(refused(other)),
            }
        }
    }
    Ok(Flow::Continue)
}

/// `show mcm`, in the seed's words first.
fn show_mcm(m: &McmStatus) -> String {
    let storage = m.storage.as_ref().map(|s| format!("\nStorage: {s}"));
    let Some(address) = &m.address else {
        return format!(
            "MCM is not configured. Set it with: set mcm ip IP passphrase PASSPHRASE [username USER]{}",
            storage.unwrap_or_default()
        );
    };
    let mut lines = vec![format!(
        "MCM IP Address: {address}, username: {}",
        m.username.as_deref().unwrap_or("-")
    )];
    if m.role == "mcm" {
        lines.push("This appliance is the MCM.".to_owned());
    }
    if let Some(state) = &m.state {
        lines.push(format!("Sync state: {state}"));
    }
    if let Some(last) = &m.last_sync {
        lines.push(format!("Last sync: {last}"));
    }
    if let Some(backlog) = m.backlog {
        lines.push(format!("Backlog: {backlog} incident changes"));
    }
    if let Some(cms) = m.cms {
        lines.push(format!("Registered CMs: {cms}"));
    }
    lines.join("\n") + &storage.unwrap_or_default()
}
