//! The local admin channel: a Unix socket in the data dir (0600) on which `aerie cli`
//! sends [`AdminRequest`]s, one JSON line each, and reads [`AdminReply`]s.

use std::{os::unix::fs::PermissionsExt, path::PathBuf};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tokio_util::sync::CancellationToken;

use aerie_domain::query::IncidentQuery;
use aerie_proto::{
    admin::{AdminReply, AdminRequest, SOCKET_FILE},
    incidents::IncidentOut,
};

use crate::rights::Operator;
use aerie_domain::{net::HostName, net::McmAddress, passphrase::Passphrase, user::Username};

use crate::{error::OpError, ops, state::AppState};

/// Longest request line accepted (a passphrase and an address fit easily).
const MAX_LINE: usize = 64 * 1024;

/// Binds `DIR/admin.sock` (replacing a stale one) and serves it until `shutdown`.
pub async fn listen(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let path: PathBuf = state.config.data_dir.join(SOCKET_FILE);
    if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let listener = UnixListener::bind(&path).with_context(|| format!("bind {}", path.display()))?;
    let mode = if owned_by_admin_group(&path) {
        0o660
    } else {
        0o600
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restrict {}", path.display()))?;
    tracing::info!(socket = %path.display(), "admin channel ready");
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => { tokio::spawn(serve_connection(state.clone(), stream)); }
                    Err(e) => tracing::warn!("admin channel accept failed: {e}"),
                },
            }
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

/// The group whose members may use the CLI besides root and the daemon's user (the
/// Debian package runs the daemon with it as its group).
pub const ADMIN_GROUP: &str = "aerie-admin";

/// Whether `path` belongs to [`ADMIN_GROUP`] (its id read from `/etc/group`): then its
/// members may connect.
fn owned_by_admin_group(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(groups) = std::fs::read_to_string("/etc/group") else {
        return false;
    };
    let gid = groups.lines().find_map(|l| {
        let mut fields = l.split(':');
        (fields.next() == Some(ADMIN_GROUP))
            .then(|| fields.nth(1).and_then(|g| g.parse::<u32>().ok()))
            .flatten()
    });
    match (gid, std::fs::metadata(path)) {
        (Some(gid), Ok(meta)) => meta.gid() == gid,
        _ => false,
    }
}

async fn serve_connection(state: AppState, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::io::AsyncReadExt::take(&mut lines, MAX_LINE as u64)
            .read_line(&mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = match serde_json::from_str::<AdminRequest>(&line) {
            Ok(request) => {
                tracing::debug!(?request, "admin request");
                handle(&state, request)
                    .await
                    .unwrap_or_else(|e| AdminReply::Error {
                        error: e.to_string(),
                    })
            }
            Err(e) => AdminReply::Error {
                error: format!("malformed admin request: {e}"),
            },
        };
        let mut out = serde_json::to_string(&reply).expect("replies serialise");
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn done(message: String) -> AdminReply {
    AdminReply::Done {
        message: Some(message),
    }
}

/// What a CLI request changes, for the audit log (`None` for reads).
fn audited(request: &AdminRequest) -> Option<(&'static str, String)> {
    Some(match request {
        AdminRequest::SetHostname { hostname } => ("appliance.hostname", hostname.clone()),
        AdminRequest::SetFips { enabled } => ("appliance.fips", format!("enabled: {enabled}")),
        AdminRequest::SetUserPassword { username, .. } => {
            ("user.password", format!("user {username}"))
        }
        AdminRequest::SetMcm {
            address, username, ..
        } => (
            "mcm.set",
            format!(
                "ip {address} username {}",
                username.as_deref().unwrap_or("-")
            ),
        ),
        AdminRequest::ResyncMcm => ("mcm.resync", String::new()),
        AdminRequest::RemoveMcm => ("mcm.remove", String::new()),
        _ => return None,
    })
}

async fn handle(state: &AppState, request: AdminRequest) -> Result<AdminReply, OpError> {
    let audit = audited(&request);
    let reply = run(state, request).await;
    if let (Some((action, detail)), Ok(_)) = (audit, &reply) {
        crate::audit::record(state, "cli", action, "appliance", detail).await?;
    }
    reply
}

async fn run(state: &AppState, request: AdminRequest) -> Result<AdminReply, OpError> {
    Ok(match request {
        AdminRequest::Status => AdminReply::Status(state.appliance.status().await?),
        AdminRequest::SetHostname { hostname } => {
            let name = HostName::parse("hostname", &hostname)?;
            let said = state.appliance.set_hostname(&name).await?;
            // A registered CM tells its MCM at once.
            state.federation.cm.wake();
            done(said)
        }
        AdminRequest::SetFips { enabled } => {
            let said = state.appliance.set_fips(enabled).await?;
            // A registered CM re-checks its mode against its key and its MCM at once.
            state.federation.cm.wake();
            done(said)
        }
        AdminRequest::Users => AdminReply::Users {
            users: ops::appliance::user_rows(state).await?,
        },
        AdminRequest::SetUserPassword { username, password } => {
            let name = Username::parse(&username)?;
            done(ops::appliance::set_user_password(state, &name, &password).await?)
        }
        AdminRequest::ShowMcm => AdminReply::Mcm(crate::federation::show(&state.federation).await?),
        AdminRequest::SetMcm {
            address,
            passphrase,
            username,
        } => {
            let address = McmAddress::parse(&address)?;
            let passphrase = Passphrase::parse("passphrase", &passphrase)?;
            let username = username.as_deref().map(Username::parse).transpose()?;
            done(
                crate::federation::configure(
                    &state.federation,
                    &address,
                    &passphrase,
                    username.as_ref(),
                )
                .await?,
            )
        }
        AdminRequest::ResyncMcm => done(crate::federation::resync(&state.federation).await?),
        AdminRequest::RemoveMcm => done(crate::federation::remove(&state.federation).await?),
        AdminRequest::ShowSystem => AdminReply::Settings {
            rows: ops::settings::rows(state).await?,
        },
        AdminRequest::SetSystem { setting, value } => {
            let change = ops::settings::console_change(&setting, &value)?;
            let console = crate::rights::Console::at_the_socket();
            done(ops::settings::change(state, Operator::Console(&console), vec![change]).await?)
        }
        AdminRequest::ShowSyslog => AdminReply::Syslog {
            destinations: ops::siem::view(state)
                .await?
                .into_iter()
                .map(|v| aerie_proto::admin::SyslogRow {
                    server: v.destination.address(),
                    protocol: format!(
                        "{}{}",
                        v.destination.protocol.as_str(),
                        if v.destination.pin.is_some() {
                            " pinned"
                        } else {
                            ""
                        }
                    ),
                    format: v.destination.format.as_str().to_owned(),
                    state: v.state,
                    sent: v.sent,
                    queue: v.behind,
                    lag_secs: v.lag_secs,
                    last_sent: v
                        .last_sent
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                })
                .collect(),
        },
        AdminRequest::SetSyslog {
            server,
            protocol,
            pin,
        } => {
            let console = crate::rights::Console::at_the_socket();
            done(
                ops::siem::set_server(
                    state,
                    Operator::Console(&console),
                    &server,
                    &protocol,
                    None,
                    pin.as_deref(),
                )
                .await?,
            )
        }
        AdminRequest::RemoveSyslog { server } => {
            let console = crate::rights::Console::at_the_socket();
            done(ops::siem::remove_server(state, Operator::Console(&console), &server).await?)
        }
        AdminRequest::Rollback => {
            let console = crate::rights::Console::at_the_socket();
            done(ops::updates::rollback(state, Operator::Console(&console)).await?)
        }
        AdminRequest::Backup { file, passphrase } => {
            let passphrase = Passphrase::parse("passphrase", &passphrase)?;
            let console = crate::rights::Console::at_the_socket();
            let path = std::path::Path::new(&file);
            done(
                ops::backup::create(state, Operator::Console(&console), &passphrase, path)
                    .await?
                    .said(),
            )
        }
        AdminRequest::Incidents { count } => {
            let limit = aerie_domain::query::check_limit(count)?;
            let query = IncidentQuery {
                limit,
                ..Default::default()
            };
            let incidents = if state.appliance.is_mcm().await? {
                let page = state.store.remote_incidents(&query, &[]).await?;
                crate::federation::mcm::incident_rows(state.store.as_ref(), &page.items).await?
            } else {
                let page = state.store.incidents(&query).await?;
                page.items.iter().map(IncidentOut::from).collect()
            };
            AdminReply::Incidents { incidents }
        }
    })
}
