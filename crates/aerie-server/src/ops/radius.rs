//! RADIUS login: the settings (RADIUS Settings page), and a login checked against the
//! RADIUS servers for users who are not local. A RADIUS user is created on first login
//! with the role its server's attribute maps to, and has no local password.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use aerie_domain::user::{RoleName, User, Username};
use aerie_identity::radius::{RadiusConfig, RadiusServer, Verdict};

use super::external::{self, Authority, NoAccount};
use crate::rights::{Administer, Can};
use crate::{audit, error::OpError, state::AppState};

/// The setting holding [`RadiusSettings`] as JSON.
const SETTING: &str = "radius.settings";

/// Which reply attribute carries the role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleAttribute {
    #[default]
    Class,
    FilterId,
}

impl RoleAttribute {
    pub fn label(self) -> &'static str {
        match self {
            RoleAttribute::Class => "Class",
            RoleAttribute::FilterId => "Filter-Id",
        }
    }
}

/// One server as configured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerSetting {
    pub address: SocketAddr,
    /// Never shown back on the page.
    pub secret: String,
}

/// The RADIUS Settings page's content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RadiusSettings {
    pub enabled: bool,
    pub servers: Vec<ServerSetting>,
    pub timeout_ms: u64,
    pub retries: u32,
    pub role_attribute: RoleAttribute,
    /// Attribute value → role name, first match wins.
    pub role_map: Vec<(String, String)>,
    pub require_message_authenticator: bool,
    /// In FIPS mode an admin confirmed using RADIUS (MD5) anyway.
    pub fips_confirmed: bool,
}

impl Default for RadiusSettings {
    fn default() -> Self {
        RadiusSettings {
            enabled: false,
            servers: Vec::new(),
            timeout_ms: 3000,
            retries: 2,
            role_attribute: RoleAttribute::Class,
            role_map: Vec::new(),
            require_message_authenticator: false,
            fips_confirmed: false,
        }
    }
}

/// What an admin submits; blank secrets keep the stored ones.
pub struct RadiusForm {
    pub enabled: bool,
    /// (address, secret) rows as typed; empty rows are dropped.
    pub servers: Vec<(String, String)>,
    pub timeout_secs: String,
    pub retries: String,
    pub role_attribute: String,
    /// `value = role` lines.
    pub role_map: String,
    pub require_message_authenticator: bool,
    pub fips_confirmed: bool,
}

/// The stored settings, or the defaults.
pub async fn settings(state: &AppState) -> Result<RadiusSettings, OpError> {
    match state.store.setting(SETTING).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| OpError::internal(format!("stored RADIUS settings unreadable: {e}"))),
        None => Ok(RadiusSettings::default()),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> OpError {
    OpError::invalid(field, message.into())
}

/// Validates a submitted form against the stored settings.
async fn parse(
    state: &AppState,
    form: RadiusForm,
    old: &RadiusSettings,
) -> Result<RadiusSettings, OpError> {
    let mut servers = Vec::new();
    for (n, (address, secret)) in form.servers.iter().enumerate() {
        let field = format!("server{}", n + 1);
        let address = address.trim();
        if address.is_empty() {
            continue;
        }
        let address: SocketAddr = address.parse().or_else(|_| {
            address
                .parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 1812))
                .map_err(|_| {
                    invalid(
                        &field,
                        format!(
                            "{address:?} is not an IP address or IP:PORT (e.g. 192.0.2.10:1812)"
                        ),
                    )
                })
        })?;
        let secret = if secret.is_empty() {
            match old.servers.iter().find(|s| s.address == address) {
                Some(s) => s.secret.clone(),
                None => return Err(invalid(&field, format!("{address} needs a shared secret"))),
            }
        } else {
            secret.clone()
        };
        if secret.len() > 128 {
            return Err(invalid(
                &field,
                "a shared secret has at most 128 characters",
            ));
        }
        servers.push(ServerSetting { address, secret });
    }
    let timeout: f64 = form
        .timeout_secs
        .trim()
        .parse()
        .ok()
        .filter(|t| (0.1..=60.0).contains(t))
        .ok_or_else(|| {
            invalid(
                "timeout",
                "the timeout is a number of seconds from 0.1 to 60",
            )
        })?;
    let retries: u32 = form
        .retries
        .trim()
        .parse()
        .ok()
        .filter(|r| *r <= 10)
        .ok_or_else(|| invalid("retries", "retries is a whole number from 0 to 10"))?;
    let role_attribute = match form.role_attribute.as_str() {
        "class" => RoleAttribute::Class,
        "filter-id" => RoleAttribute::FilterId,
        other => {
            return Err(invalid(
                "role_attribute",
                format!("{other:?} is not Class or Filter-Id"),
            ));
        }
    };
    let role_map = external::parse_role_map(state, "role_map", &form.role_map).await?;
    if form.enabled && servers.is_empty() {
        return Err(invalid("server1", "RADIUS login needs at least one server"));
    }
    if form.enabled && role_map.is_empty() {
        return Err(invalid(
            "role_map",
            "map at least one attribute value to a role: without one, nobody can log in",
        ));
    }
    if form.enabled && state.appliance.fips().await? && !form.fips_confirmed {
        return Err(invalid(
            "fips_confirmed",
            "this appliance is in FIPS mode and RADIUS over UDP rests on MD5, which FIPS does \
             not approve: confirm to enable it anyway",
        ));
    }
    Ok(RadiusSettings {
        enabled: form.enabled,
        servers,
        timeout_ms: (timeout * 1000.0) as u64,
        retries,
        role_attribute,
        role_map,
        require_message_authenticator: form.require_message_authenticator,
        fips_confirmed: form.fips_confirmed,
    })
}

/// Saves the RADIUS settings.
pub async fn save(
    state: &AppState,
    can: &Can<Administer>,
    form: RadiusForm,
) -> Result<RadiusSettings, OpError> {
    let old = settings(state).await?;
    let new = parse(state, form, &old).await?;
    let json = serde_json::to_string(&new).map_err(OpError::internal)?;
    state.store.set_setting(SETTING, &json).await?;
    let what = format!(
        "enabled={} servers={}",
        new.enabled,
        new.servers
            .iter()
            .map(|s| s.address.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    audit::record(
        state,
        can.caller().user.username.as_str(),
        "radius.settings",
        "radius",
        &what,
    )
    .await?;
    Ok(new)
}

impl RadiusSettings {
    fn client(&self, nas: &str) -> RadiusConfig {
        RadiusConfig {
            servers: self
                .servers
                .iter()
                .map(|s| RadiusServer {
                    addr: s.address,
                    secret: s.secret.as_bytes().to_vec().into(),
                })
                .collect(),
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            require_message_authenticator: self.require_message_authenticator,
            nas_identifier: nas.to_owned(),
        }
    }

    /// The role a verdict's attribute maps to.
    pub fn role_for(&self, verdict: &Verdict) -> Option<RoleName> {
        let values = match self.role_attribute {
            RoleAttribute::Class => &verdict.classes,
            RoleAttribute::FilterId => &verdict.filter_ids,
        };
        external::mapped_role(&self.role_map, values)
    }
}

/// What a RADIUS login came to.
pub enum Outcome {
    /// RADIUS is off, or the user is local: nothing was asked.
    NotAsked,
    Accepted(User),
    /// Rejected, or accepted with no mapped role (said in the log and audit only).
    Refused,
}

/// Checks `username`/`password` with the RADIUS servers, when RADIUS login is on (the
/// caller asks only for users who are not local); creates or updates the RADIUS user on
/// success.
pub async fn log_in(
    state: &AppState,
    username: &Username,
    password: &str,
) -> Result<Outcome, OpError> {
    let settings = settings(state).await?;
    if !settings.enabled {
        return Ok(Outcome::NotAsked);
    }
    let nas = state.appliance.hostname().await?;
    let verdict = match settings
        .client(nas.as_str())
        .authenticate(username.as_str(), password)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(user = username.as_str(), "RADIUS login failed: {e}");
            audit::record(
                state,
                username.as_str(),
                "login.failed",
                "session",
                "radius: no verdict",
            )
            .await?;
            return Ok(Outcome::Refused);
        }
    };
    if !verdict.accepted {
        audit::record(
            state,
            username.as_str(),
            "login.failed",
            "session",
            "radius: rejected",
        )
        .await?;
        return Ok(Outcome::Refused);
    }
    let Some(role) = settings.role_for(&verdict) else {
        tracing::warn!(
            user = username.as_str(),
            "RADIUS accepted the user but no {} value maps to a role",
            settings.role_attribute.label()
        );
        audit::record(
            state,
            username.as_str(),
            "login.failed",
            "session",
            "radius: no mapped role",
        )
        .await?;
        return Ok(Outcome::Refused);
    };
    match external::provision(state, Authority::Radius, username, &role).await? {
        Ok(user) => Ok(Outcome::Accepted(user)),
        Err(NoAccount::Disabled) => Ok(Outcome::Refused),
        Err(NoAccount::NameTaken) => {
            audit::record(
                state,
                username.as_str(),
                "login.failed",
                "session",
                "radius: the name belongs to another user",
            )
            .await?;
            Ok(Outcome::Refused)
        }
    }
}

/// The settings page's "test connection": what the servers say of these credentials.
pub async fn test(
    state: &AppState,
    _can: &Can<Administer>,
    username: &str,
    password: &str,
) -> Result<String, OpError> {
    let settings = settings(state).await?;
    if settings.servers.is_empty() {
        return Ok("Nothing to test: no RADIUS server is saved yet.".to_owned());
    }
    let nas = state.appliance.hostname().await?;
    match settings
        .client(nas.as_str())
        .authenticate(username, password)
        .await
    {
        Ok(v) if v.accepted => Ok(match settings.role_for(&v) {
            Some(role) => format!(
                "{}: accepted; {username} would log in with the {role} role.",
                v.server
            ),
            None => format!(
                "{}: accepted, but no {} value ({}) maps to a role: the login would be refused.",
                v.server,
                settings.role_attribute.label(),
                match settings.role_attribute {
                    RoleAttribute::Class => v.classes.join(", "),
                    RoleAttribute::FilterId => v.filter_ids.join(", "),
                }
            ),
        }),
        Ok(v) => Ok(format!(
            "{}: rejected (wrong user name or password).",
            v.server
        )),
        Err(e) => Err(OpError::unavailable(e.to_string())),
    }
}
