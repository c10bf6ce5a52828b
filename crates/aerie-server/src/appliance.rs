//! The appliance's own settings: host name, role, FIPS mode, users — what the operator
//! changes from the CLI.

use chrono::Utc;

use aerie_domain::{
    net::HostName,
    user::{Role, Username},
};
use aerie_proto::admin::{ApplianceStatus, UserRow};

use crate::{auth, error::ApiError, state::AppState};

/// Setting names in the store.
pub mod keys {
    pub const ROLE: &str = "role";
    pub const HOSTNAME: &str = "hostname";
    pub const FIPS: &str = "fips";
}

/// `cm` or `mcm`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ApplianceRole {
    Cm,
    Mcm,
}

impl ApplianceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplianceRole::Cm => "cm",
            ApplianceRole::Mcm => "mcm",
        }
    }
}

/// Which cryptographic module this build runs, said plainly.
pub fn crypto_module() -> &'static str {
    "aws-lc-rs default module (not the FIPS 140-3 validated build; in FIPS mode Aerie \
     restricts itself to FIPS-approved algorithms: PBKDF2-HMAC-SHA256 device keys, \
     TLS 1.2/1.3 with AES-GCM and NIST curves)"
}

impl AppState {
    /// `cm` or `mcm`. Read from the store once, then kept in memory: it changes only by
    /// this daemon's own `set mcm` commands.
    pub async fn role(&self) -> Result<ApplianceRole, ApiError> {
        if let Some(role) = *self.role_cache.read().expect("role lock") {
            return Ok(role);
        }
        let role = match self.store.setting(keys::ROLE).await?.as_deref() {
            Some("mcm") => ApplianceRole::Mcm,
            _ => ApplianceRole::Cm,
        };
        *self.role_cache.write().expect("role lock") = Some(role);
        Ok(role)
    }

    pub async fn set_role(&self, role: ApplianceRole) -> Result<(), ApiError> {
        self.store.set_setting(keys::ROLE, role.as_str()).await?;
        *self.role_cache.write().expect("role lock") = Some(role);
        Ok(())
    }

    /// The host name set from the CLI, else the configured one.
    pub async fn hostname(&self) -> Result<String, ApiError> {
        Ok(self
            .store
            .setting(keys::HOSTNAME)
            .await?
            .unwrap_or_else(|| self.config.hostname.clone()))
    }

    pub async fn fips(&self) -> Result<bool, ApiError> {
        Ok(self.store.setting(keys::FIPS).await?.as_deref() == Some("enabled"))
    }

    pub async fn status(&self) -> Result<ApplianceStatus, ApiError> {
        Ok(ApplianceStatus {
            hostname: self.hostname().await?,
            role: self.role().await?.as_str().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            fips_enabled: self.fips().await?,
            crypto_module: crypto_module().to_owned(),
        })
    }

    pub async fn set_hostname(&self, name: &str) -> Result<String, ApiError> {
        let name = HostName::parse("hostname", name)?;
        self.store
            .set_setting(keys::HOSTNAME, name.as_str())
            .await?;
        tracing::info!(hostname = %name, "host name changed");
        Ok(format!("Hostname set to {name}."))
    }

    pub async fn set_fips(&self, enabled: bool) -> Result<String, ApiError> {
        self.store
            .set_setting(keys::FIPS, if enabled { "enabled" } else { "disabled" })
            .await?;
        tracing::info!(enabled, "FIPS mode changed");
        Ok(format!(
            "FIPS mode {}. It applies to device keys derived from now on and to TLS after a restart.",
            if enabled { "enabled" } else { "disabled" }
        ))
    }

    pub async fn user_rows(&self) -> Result<Vec<UserRow>, ApiError> {
        let users = self.store.users().await?;
        Ok(users
            .into_iter()
            .map(|u| UserRow {
                username: u.username.as_str().to_owned(),
                role: u.role.as_str().to_owned(),
                disabled: u.disabled,
            })
            .collect())
    }

    /// Sets a user's password; creates the user with the admin role if absent.
    pub async fn set_user_password(&self, name: &str, password: &str) -> Result<String, ApiError> {
        let name = Username::parse(name)?;
        aerie_domain::user::check_password("password", password)?;
        let hash = auth::hash_password(password)?;
        match self.store.user_credentials(&name).await? {
            Some((user, _)) => {
                self.store.set_password_hash(user.id, &hash).await?;
                tracing::info!(user = name.as_str(), "password set from the CLI");
                Ok(format!("Password of {} changed.", name.as_str()))
            }
            None => {
                self.store
                    .create_user(&name, &hash, &Role::Admin.name(), Utc::now())
                    .await?;
                tracing::info!(user = name.as_str(), "user created from the CLI");
                Ok(format!(
                    "User {} created with the admin role.",
                    name.as_str()
                ))
            }
        }
    }
}
