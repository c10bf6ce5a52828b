//! System Settings: read and change the [`SystemSettings`] record and the host name, from
//! the System Settings page and from `set system …` alike. Every change is audited with
//! its old and new value.

use aerie_domain::{
    net::HostName,
    settings::{self, SystemSettings, TimeZone, Tz},
};

use crate::rights::Operator;
use crate::{audit, error::OpError, state::AppState};

/// The setting holding [`SystemSettings`] as JSON.
const SETTING: &str = "system.settings";

/// The stored record, or the defaults.
pub async fn system(state: &AppState) -> Result<SystemSettings, OpError> {
    stored(state.store.as_ref()).await
}

/// [`system`] before the appliance state exists (at start).
pub async fn stored(store: &dyn aerie_store::Store) -> Result<SystemSettings, OpError> {
    match store.setting(SETTING).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| OpError::internal(format!("stored system settings unreadable: {e}"))),
        None => Ok(SystemSettings::default()),
    }
}

/// Minutes a new login session lasts: System Settings, else the configuration.
pub async fn session_ttl_minutes(state: &AppState) -> Result<u64, OpError> {
    Ok(system(state)
        .await?
        .session_ttl_minutes
        .unwrap_or(state.config.session_ttl_minutes))
}

/// The zone the web UI shows times in.
pub async fn time_zone(state: &AppState) -> Result<Tz, OpError> {
    Ok(system(state)
        .await?
        .time_zone
        .map(|z| z.tz())
        .unwrap_or(Tz::UTC))
}

/// The port the next start listens on, and why.
pub fn next_listen(
    config: &crate::config::Config,
    s: &SystemSettings,
) -> (std::net::SocketAddr, &'static str) {
    match s.listen_port {
        Some(_) if config.listen_configured => (
            config.listen,
            "the configuration (aerie.toml, AERIE_LISTEN or --listen) names the listen address, which wins over this setting",
        ),
        Some(port) => (
            std::net::SocketAddr::new(config.listen.ip(), port),
            "from System Settings",
        ),
        None if config.listen_configured => (config.listen, "from the configuration"),
        None => (config.listen, "the default"),
    }
}

/// One field an operator changes; several may travel in one save.
#[derive(Clone, Debug)]
pub enum SystemChange {
    Hostname(HostName),
    TimeZone(Option<TimeZone>),
    SessionTtl(Option<u64>),
    LoginBanner(String),
    ListenPort(Option<u16>),
    SoftwareUpdates(bool),
}

/// The page's fields as typed: empty `time_zone`, `session_ttl` and `listen_port` go
/// back to the configuration's values.
pub struct SystemForm {
    pub hostname: String,
    pub time_zone: String,
    pub session_ttl: String,
    pub login_banner: String,
    pub listen_port: String,
    pub software_updates: bool,
}

impl SystemForm {
    /// Checks every field; the first bad one is the error.
    pub fn parse(&self) -> Result<Vec<SystemChange>, OpError> {
        let blank = |s: &str| s.trim().is_empty();
        Ok(vec![
            SystemChange::Hostname(HostName::parse("hostname", self.hostname.trim())?),
            SystemChange::TimeZone(if blank(&self.time_zone) {
                None
            } else {
                Some(TimeZone::parse("time_zone", &self.time_zone)?)
            }),
            SystemChange::SessionTtl(if blank(&self.session_ttl) {
                None
            } else {
                Some(settings::check_session_ttl(
                    "session_ttl",
                    &self.session_ttl,
                )?)
            }),
            SystemChange::LoginBanner(settings::check_banner("login_banner", &self.login_banner)?),
            SystemChange::ListenPort(if blank(&self.listen_port) {
                None
            } else {
                Some(settings::check_port("listen_port", &self.listen_port)?)
            }),
            SystemChange::SoftwareUpdates(self.software_updates),
        ])
    }
}

fn shown<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(configuration)".to_owned())
}

/// Applies `changes`; those that change nothing are skipped. Says what changed.
#[tracing::instrument(skip_all, fields(by = by.name()), err(level = "warn"))]
pub async fn change(
    state: &AppState,
    by: Operator<'_>,
    changes: Vec<SystemChange>,
) -> Result<String, OpError> {
    let old = system(state).await?;
    let mut new = old.clone();
    let mut said = Vec::new();
    let mut renamed = None;
    for change in changes {
        match change {
            SystemChange::Hostname(name) => {
                let current = state.appliance.hostname().await?;
                if name.as_str() != current {
                    said.push(format!("host name: {current} → {name}"));
                    renamed = Some(name);
                }
            }
            SystemChange::TimeZone(z) => {
                if z != new.time_zone {
                    said.push(format!(
                        "time zone: {} → {}",
                        new.time_zone.as_ref().map_or("UTC", |z| z.name()),
                        z.as_ref().map_or("UTC", |z| z.name())
                    ));
                    new.time_zone = z;
                }
            }
            SystemChange::SessionTtl(m) => {
                if m != new.session_ttl_minutes {
                    said.push(format!(
                        "session lifetime (minutes): {} → {}",
                        shown(&new.session_ttl_minutes),
                        shown(&m)
                    ));
                    new.session_ttl_minutes = m;
                }
            }
            SystemChange::LoginBanner(text) => {
                if text != new.login_banner {
                    said.push(format!("login banner: {} characters", text.chars().count()));
                    new.login_banner = text;
                }
            }
            SystemChange::ListenPort(p) => {
                if p != new.listen_port {
                    said.push(format!(
                        "listen port: {} → {} (applies at the next start)",
                        shown(&new.listen_port),
                        shown(&p)
                    ));
                    new.listen_port = p;
                }
            }
            SystemChange::SoftwareUpdates(on) => {
                if on != new.software_updates {
                    said.push(format!(
                        "software updates: {}",
                        if on { "automatic" } else { "off" }
                    ));
                    new.software_updates = on;
                }
            }
        }
    }
    if said.is_empty() {
        return Ok("Nothing changed.".to_owned());
    }
    if new != old {
        let json = serde_json::to_string(&new).map_err(OpError::internal)?;
        state.store.set_setting(SETTING, &json).await?;
    }
    if let Some(name) = renamed {
        state.appliance.set_hostname(&name).await?;
        // A registered CM tells its MCM at once.
        state.federation.cm.wake();
    }
    let detail = said.join("; ");
    audit::record(state, by.name(), "system.settings", "system", &detail).await?;
    tracing::info!(%detail, "system settings changed");
    Ok(format!("Saved: {detail}."))
}

/// `set system SETTING VALUE` as a change; `default` clears a setting that defers to the
/// configuration.
pub fn console_change(setting: &str, value: &str) -> Result<SystemChange, OpError> {
    let cleared = matches!(value.trim(), "default" | "");
    Ok(match setting {
        "timezone" => SystemChange::TimeZone(if cleared {
            None
        } else {
            Some(TimeZone::parse("timezone", value)?)
        }),
        "session-ttl" => SystemChange::SessionTtl(if cleared {
            None
        } else {
            Some(settings::check_session_ttl("session-ttl", value)?)
        }),
        "login-banner" => SystemChange::LoginBanner(settings::check_banner("login-banner", value)?),
        "port" => SystemChange::ListenPort(if cleared {
            None
        } else {
            Some(settings::check_port("port", value)?)
        }),
        "software-updates" => SystemChange::SoftwareUpdates(match value {
            "enable" => true,
            "disable" => false,
            other => {
                return Err(OpError::invalid(
                    "software-updates",
                    format!("{other:?}: expected enable or disable"),
                ));
            }
        }),
        other => {
            return Err(OpError::invalid(
                "setting",
                format!(
                    "no system setting {other:?}: expected timezone, session-ttl, login-banner, \
                     port or software-updates"
                ),
            ));
        }
    })
}

/// `show system`: every setting with the value in effect and where it comes from.
pub async fn rows(state: &AppState) -> Result<Vec<(String, String)>, OpError> {
    let s = system(state).await?;
    let (next, why) = next_listen(&state.config, &s);
    Ok(vec![
        ("Hostname".into(), state.appliance.hostname().await?),
        (
            "Time zone".into(),
            s.time_zone.as_ref().map_or("UTC", |z| z.name()).to_owned(),
        ),
        (
            "Session TTL".into(),
            match s.session_ttl_minutes {
                Some(m) => format!("{m} minutes"),
                None => format!(
                    "{} minutes (configuration)",
                    state.config.session_ttl_minutes
                ),
            },
        ),
        (
            "Login banner".into(),
            if s.login_banner.is_empty() {
                "(none)".to_owned()
            } else {
                format!("{:?}", s.login_banner)
            },
        ),
        ("Listening on".into(), state.appliance.identity.listening()),
        ("Next start listens on".into(), format!("{next} ({why})")),
        (
            "Software updates".into(),
            if s.software_updates {
                "automatic"
            } else {
                "off"
            }
            .to_owned(),
        ),
    ])
}
