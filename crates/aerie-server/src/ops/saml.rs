//! SAML single sign-on: the settings (SAML Settings page), and a login's two legs — the
//! redirect to the IdP and the IdP's answer at the ACS. The pending login and the replay
//! cache live in the store, so any front end on the same database can finish a login
//! another one started. A user is created on first login with the role their groups map
//! to, and has no local password.

use std::{net::IpAddr, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use aerie_domain::user::{User, Username};
use aerie_identity::saml::{self as sp, IdpInfo, PendingLogin, ServiceProvider, SsoUser};

use super::external::{self, Authority, NoAccount};
use crate::rights::{Administer, Can};
use crate::secret::{SecretKind, new_secret, secret_hash};
use crate::{audit, error::OpError, state::AppState};

/// The setting holding [`SamlSettings`] as JSON.
const SETTING: &str = "saml.settings";
/// How long a login sent to the IdP may take.
pub const PENDING_FOR: TimeDelta = TimeDelta::minutes(10);
/// The largest IdP metadata accepted (federation-wide aggregates are not: upload the
/// IdP's own entity).
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// Where a login lands.
const LANDING: &str = "/incidents";

/// The SAML Settings page's content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SamlSettings {
    pub enabled: bool,
    /// The IdP's metadata XML, as uploaded ("" for none).
    pub idp_metadata: String,
    /// This SP's entity id; "" for the default, the metadata URL.
    pub sp_entity_id: String,
    /// The attribute holding the user name; "" for the NameID.
    pub username_attribute: String,
    /// The attribute holding the user's groups.
    pub groups_attribute: String,
    /// Group → role name, first match wins.
    pub group_map: Vec<(String, String)>,
    /// Accept responses the IdP sends unasked (IdP-initiated SSO).
    pub allow_idp_initiated: bool,
    /// Widens the assertions' time windows each way.
    pub clock_skew_secs: u64,
}

impl Default for SamlSettings {
    fn default() -> Self {
        SamlSettings {
            enabled: false,
            idp_metadata: String::new(),
            sp_entity_id: String::new(),
            username_attribute: String::new(),
            groups_attribute: "groups".to_owned(),
            group_map: Vec::new(),
            allow_idp_initiated: false,
            clock_skew_secs: 180,
        }
    }
}

/// What an admin submits. An empty metadata field keeps the stored metadata.
pub struct SamlForm {
    pub enabled: bool,
    pub idp_metadata: String,
    pub sp_entity_id: String,
    pub username_attribute: String,
    pub groups_attribute: String,
    /// `GROUP = ROLE` lines.
    pub group_map: String,
    pub allow_idp_initiated: bool,
    pub clock_skew_secs: String,
}

/// This SP's addresses, as the IdP's admin enters them.
pub struct Endpoints {
    pub entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
}

/// The stored settings, or the defaults.
pub async fn settings(state: &AppState) -> Result<SamlSettings, OpError> {
    match state.store.setting(SETTING).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| OpError::internal(format!("stored SAML settings unreadable: {e}"))),
        None => Ok(SamlSettings::default()),
    }
}

/// Whether the login page offers "Sign in with SSO".
pub async fn enabled(state: &AppState) -> Result<bool, OpError> {
    Ok(settings(state).await?.enabled)
}

impl SamlSettings {
    /// This SP's addresses, from the appliance's public URL.
    pub fn endpoints(&self, state: &AppState) -> Endpoints {
        let base = state.appliance.identity.public_url();
        let base = base.trim_end_matches('/');
        let metadata_url = format!("{base}/saml/metadata");
        Endpoints {
            entity_id: if self.sp_entity_id.is_empty() {
                metadata_url.clone()
            } else {
                self.sp_entity_id.clone()
            },
            acs_url: format!("{base}/saml/acs"),
            metadata_url,
        }
    }

    fn service_provider(&self, state: &AppState) -> Result<ServiceProvider, OpError> {
        let ends = self.endpoints(state);
        ServiceProvider::new(
            &ends.entity_id,
            &ends.acs_url,
            &self.idp_metadata,
            Duration::from_secs(self.clock_skew_secs),
        )
        .map_err(|e| OpError::internal(format!("the saved SAML settings do not load: {e}")))
    }

    /// What the saved IdP metadata declares.
    pub fn idp(&self) -> Option<Result<IdpInfo, String>> {
        (!self.idp_metadata.is_empty())
            .then(|| sp::describe_idp(&self.idp_metadata).map_err(|e| e.to_string()))
    }
}

/// This SP's metadata XML (served at `/saml/metadata`).
pub async fn sp_metadata(state: &AppState) -> Result<String, OpError> {
    let ends = settings(state).await?.endpoints(state);
    sp::sp_metadata(&ends.entity_id, &ends.acs_url).map_err(|e| {
        OpError::internal(format!(
            "no SP metadata for {} (check the entity id): {e}",
            ends.entity_id
        ))
    })
}

fn invalid(field: &str, message: impl Into<String>) -> OpError {
    OpError::invalid(field, message.into())
}

/// Checks metadata an admin supplied; its description.
fn check_metadata(xml: &str) -> Result<IdpInfo, OpError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(invalid(
            "idp_metadata",
            format!(
                "the IdP metadata has {} bytes; at most {MAX_METADATA_BYTES} are accepted \
                 (upload the IdP's own EntityDescriptor, not a federation's)",
                xml.len()
            ),
        ));
    }
    sp::describe_idp(xml).map_err(|e| {
        let e: String = e.to_string().chars().take(400).collect();
        invalid(
            "idp_metadata",
            format!("the IdP metadata does not load: {e}"),
        )
    })
}

/// Validates a submitted form against the stored settings.
async fn parse(
    state: &AppState,
    form: SamlForm,
    old: &SamlSettings,
) -> Result<SamlSettings, OpError> {
    let idp_metadata = match form.idp_metadata.trim() {
        "" => old.idp_metadata.clone(),
        xml => {
            check_metadata(xml)?;
            xml.to_owned()
        }
    };
    let sp_entity_id = form.sp_entity_id.trim().to_owned();
    if !sp_entity_id.is_empty()
        && (sp_entity_id.len() > 1024
            || sp_entity_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            || !["https://", "http://", "urn:"]
                .iter()
                .any(|p| sp_entity_id.starts_with(p)))
    {
        return Err(invalid(
            "sp_entity_id",
            "the entity id is a URL (https://…) or a URN (urn:…) of at most 1024 characters, \
             without spaces; leave it blank for the default",
        ));
    }
    let attribute = |field: &str, value: &str| -> Result<String, OpError> {
        let value = value.trim();
        if value.len() > 256 || value.chars().any(char::is_control) {
            return Err(invalid(
                field,
                "an attribute name has at most 256 characters, none of them control characters",
            ));
        }
        Ok(value.to_owned())
    };
    let username_attribute = attribute("username_attribute", &form.username_attribute)?;
    let groups_attribute = attribute("groups_attribute", &form.groups_attribute)?;
    if groups_attribute.is_empty() {
        return Err(invalid(
            "groups_attribute",
            "name the attribute that carries the user's groups (e.g. groups, memberOf)",
        ));
    }
    let group_map = external::parse_role_map(state, "group_map", &form.group_map).await?;
    let clock_skew_secs: u64 = form
        .clock_skew_secs
        .trim()
        .parse()
        .ok()
        .filter(|s| *s <= 600)
        .ok_or_else(|| {
            invalid(
                "clock_skew",
                "the clock skew is a whole number of seconds from 0 to 600",
            )
        })?;
    if form.enabled && idp_metadata.is_empty() {
        return Err(invalid(
            "idp_metadata",
            "single sign-on needs the IdP's metadata: paste or upload it",
        ));
    }
    if form.enabled && group_map.is_empty() {
        return Err(invalid(
            "group_map",
            "map at least one group to a role: without one, nobody can log in",
        ));
    }
    let new = SamlSettings {
        enabled: form.enabled,
        idp_metadata,
        sp_entity_id,
        username_attribute,
        groups_attribute,
        group_map,
        allow_idp_initiated: form.allow_idp_initiated,
        clock_skew_secs,
    };
    if !new.idp_metadata.is_empty() {
        let ends = new.endpoints(state);
        ServiceProvider::new(
            &ends.entity_id,
            &ends.acs_url,
            &new.idp_metadata,
            Duration::from_secs(new.clock_skew_secs),
        )
        .map_err(|e| invalid("sp_entity_id", format!("these settings do not load: {e}")))?;
    }
    Ok(new)
}

/// Saves the SAML settings.
pub async fn save(
    state: &AppState,
    can: &Can<Administer>,
    form: SamlForm,
) -> Result<SamlSettings, OpError> {
    let old = settings(state).await?;
    let new = parse(state, form, &old).await?;
    let json = serde_json::to_string(&new).map_err(OpError::internal)?;
    state.store.set_setting(SETTING, &json).await?;
    let idp = match new.idp() {
        Some(Ok(info)) => info.entity_id,
        _ => "none".to_owned(),
    };
    audit::record(
        state,
        can.caller().user.username.as_str(),
        "saml.settings",
        "saml",
        &format!(
            "enabled={} idp={idp} idp_initiated={}",
            new.enabled, new.allow_idp_initiated
        ),
    )
    .await?;
    Ok(new)
}

/// The settings page's "check": what metadata says (pasted or uploaded, else the saved
/// one), without saving it.
pub async fn check(
    state: &AppState,
    _can: &Can<Administer>,
    idp_metadata: &str,
) -> Result<String, OpError> {
    let saved = settings(state).await?;
    let xml = match idp_metadata.trim() {
        "" if saved.idp_metadata.is_empty() => {
            return Ok("Nothing to check: paste or upload the IdP's metadata.".to_owned());
        }
        "" => saved.idp_metadata.clone(),
        xml => xml.to_owned(),
    };
    let info = check_metadata(&xml)?;
    let now = Utc::now().timestamp();
    let certs: Vec<String> = info
        .signing_certificates
        .iter()
        .map(|c| {
            format!(
                "{} (SHA-256 {}), {}",
                c.subject,
                c.sha256,
                validity(c.not_before, c.not_after, now)
            )
        })
        .collect();
    Ok(format!(
        "IdP {}: sign-in at {}; signing certificate: {}.",
        info.entity_id,
        info.sso_url
            .as_deref()
            .unwrap_or("(no HTTP-Redirect endpoint: this IdP cannot be used)"),
        certs.join("; ")
    ))
}

/// A certificate's validity in words.
pub fn validity(not_before: i64, not_after: i64, now: i64) -> String {
    let day = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| t.to_string())
    };
    if now < not_before {
        format!("not valid before {}", day(not_before))
    } else if now >= not_after {
        format!("EXPIRED on {}", day(not_after))
    } else {
        format!(
            "valid until {} ({} days left)",
            day(not_after),
            (not_after - now) / 86_400
        )
    }
}

/// A login sent to the IdP: where to send the browser, and the key the browser keeps
/// (in a cookie) to finish it.
pub struct Started {
    pub redirect: String,
    pub browser_key: String,
}

/// Starts an SP-initiated login.
pub async fn start_login(state: &AppState) -> Result<Started, OpError> {
    let settings = settings(state).await?;
    if !settings.enabled {
        return Err(OpError::refused(
            "single sign-on is off here: log in with your user name and password, or ask an \
             admin to set up SAML Settings",
        ));
    }
    let (redirect, pending) = settings
        .service_provider(state)?
        .start(LANDING)
        .map_err(|e| OpError::internal(format!("no AuthnRequest: {e}")))?;
    let browser_key = new_secret(SecretKind::Nonce);
    let json = serde_json::to_string(&pending).map_err(OpError::internal)?;
    state
        .store
        .put_sso_pending(&secret_hash(&browser_key), &json, Utc::now() + PENDING_FOR)
        .await?;
    Ok(Started {
        redirect,
        browser_key,
    })
}

/// Why an answer from the IdP logs nobody in; each has its own page.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No login was started in this browser, or it took too long.
    NotStarted,
    /// The answer failed a check (signature, audience, time, …): the detail is logged.
    Invalid,
    /// The answer was used before.
    Replayed,
    /// The IdP's user name is not one this appliance accepts.
    BadUsername(String),
    /// None of the user's groups maps to a role.
    NoGroup(String),
    /// The user is disabled here.
    Disabled(String),
    /// A local (or RADIUS) user has the name.
    NameTaken(String),
    /// Too many failed logins from this address; seconds to wait.
    TooMany(u64),
}

/// What the ACS received.
pub struct Answer<'a> {
    pub ip: IpAddr,
    /// The key kept by the browser that started the login, if it sent one.
    pub browser_key: Option<&'a str>,
    pub saml_response: &'a str,
    pub relay_state: Option<&'a str>,
}

/// A successful login: the user, its session secret and expiry, where to go.
pub struct LoggedIn {
    pub user: User,
    pub token: String,
    pub expires: DateTime<Utc>,
    pub landing: &'static str,
}

/// Checks the IdP's answer and, if it holds, opens a session. Failures count toward the
/// address's login limit and are audited.
pub async fn finish_login(
    state: &AppState,
    answer: Answer<'_>,
) -> Result<Result<LoggedIn, Refusal>, OpError> {
    let attempt = match state
        .login_throttle
        .attempt(answer.ip, &format!("saml {}", answer.ip))
    {
        Ok(a) => a,
        Err(wait) => return Ok(Err(Refusal::TooMany(wait.wait.as_secs().max(1)))),
    };
    match check_answer(state, &answer).await? {
        Ok(user) => {
            state.login_throttle.succeeded(attempt);
            let (token, expires) = super::sessions::open_session(state, &user, "saml").await?;
            Ok(Ok(LoggedIn {
                user,
                token,
                expires,
                landing: LANDING,
            }))
        }
        Err((who, refusal)) => {
            state.login_throttle.failed(attempt);
            audit::record(
                state,
                &who,
                "login.failed",
                "session",
                &format!("saml: {refusal:?}"),
            )
            .await?;
            Ok(Err(refusal))
        }
    }
}

/// The user an answer logs in, or who it was (as far as known) and why not.
async fn check_answer(
    state: &AppState,
    answer: &Answer<'_>,
) -> Result<Result<User, (String, Refusal)>, OpError> {
    let unknown = |r| Ok(Err((String::from("(unknown)"), r)));
    let settings = settings(state).await?;
    if !settings.enabled {
        return unknown(Refusal::NotStarted);
    }
    let sp = settings.service_provider(state)?;
    let now = Utc::now();
    let pending = match answer.browser_key {
        Some(key) => state.store.take_sso_pending(&secret_hash(key), now).await?,
        None => None,
    };
    let checked = match pending {
        Some(json) => {
            let pending: PendingLogin = serde_json::from_str(&json).map_err(|e| {
                OpError::internal(format!("a stored SAML login is unreadable: {e}"))
            })?;
            sp.finish(
                &pending,
                answer.saml_response,
                answer.relay_state,
                now.into(),
            )
        }
        None if settings.allow_idp_initiated => {
            sp.accept_unsolicited(answer.saml_response, answer.relay_state, now.into())
        }
        None => return unknown(Refusal::NotStarted),
    };
    let sso = match checked {
        Ok(sso) => sso,
        Err(e) => {
            tracing::warn!(idp = sp.idp_entity_id(), "SAML response refused: {e}");
            return unknown(Refusal::Invalid);
        }
    };
    let seen: Vec<(String, DateTime<Utc>)> = sso
        .seen
        .iter()
        .map(|(id, until)| (id.clone(), DateTime::<Utc>::from(*until)))
        .collect();
    let name = username_of(&settings, &sso);
    if !state.store.use_sso_ids(&seen, now).await? {
        tracing::warn!(user = name, "SAML response replayed");
        return Ok(Err((name, Refusal::Replayed)));
    }
    let Ok(username) = Username::parse(&name) else {
        return Ok(Err((String::from("(invalid)"), Refusal::BadUsername(name))));
    };
    let groups = sso.values(&settings.groups_attribute);
    let Some(role) = external::mapped_role(&settings.group_map, groups) else {
        tracing::warn!(
            user = name,
            groups = ?groups,
            "SAML login refused: no group maps to a role"
        );
        return Ok(Err((name.clone(), Refusal::NoGroup(name))));
    };
    match external::provision(state, Authority::Saml, &username, &role).await? {
        Ok(user) => Ok(Ok(user)),
        Err(NoAccount::Disabled) => Ok(Err((name.clone(), Refusal::Disabled(name)))),
        Err(NoAccount::NameTaken) => Ok(Err((name.clone(), Refusal::NameTaken(name)))),
    }
}

/// The user name an IdP's answer gives: the configured attribute's first value, or the
/// NameID.
fn username_of(settings: &SamlSettings, sso: &SsoUser) -> String {
    if settings.username_attribute.is_empty() {
        return sso.name_id.clone();
    }
    sso.values(&settings.username_attribute)
        .first()
        .cloned()
        .unwrap_or_default()
}
