//! First start: the data directory, the `admin` account and the stored role.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use anyhow::{Context, bail};
use chrono::Utc;

use aerie_domain::user::{Role, Username};
use aerie_store::Store;

use crate::tls::write_private;

/// The file holding a generated admin password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Creates the data directory (owner-only) if it does not exist.
pub fn data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir).with_context(|| format!("create data dir {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restrict {}", dir.display()))?;
    }
    if !dir.is_dir() {
        bail!("data dir {} is not a directory", dir.display());
    }
    Ok(())
}

/// Creates the `admin` user on first start. The password comes from
/// `AERIE_ADMIN_PASSWORD` if set; otherwise it is generated and written, owner-only, to
/// `DIR/initial-admin-password`.
pub async fn admin(
    store: &dyn Store,
    dir: &Path,
    env_password: Option<String>,
) -> anyhow::Result<()> {
    let name = Username::parse("admin").expect("valid user name");
    if store.user_credentials(&name).await?.is_some() {
        return Ok(());
    }
    let password = match env_password {
        Some(p) if p.chars().count() < 8 => {
            bail!("AERIE_ADMIN_PASSWORD must be at least 8 characters")
        }
        Some(p) => p,
        None => {
            let password =
                crate::secret::new_secret(crate::secret::SecretKind::Password)[..20].to_owned();
            let path = dir.join(INITIAL_PASSWORD_FILE);
            let _ = fs::remove_file(&path);
            write_private(&path, format!("{password}\n").as_bytes())?;
            tracing::info!(
                path = %path.display(),
                "created user admin; its password is in the file (read it, then delete it)"
            );
            password
        }
    };
    let hash = crate::secret::hash_password(&password);
    store
        .create_user(&name, &hash, &Role::Admin.name(), Utc::now())
        .await?;
    Ok(())
}

/// The address to listen on: the configuration's, with the System Settings port when one
/// is saved and the configuration does not name the address itself.
pub async fn listen(
    store: &dyn Store,
    config: &crate::config::Config,
) -> anyhow::Result<std::net::SocketAddr> {
    let settings = crate::ops::settings::stored(store).await?;
    let (addr, why) = crate::ops::settings::next_listen(config, &settings);
    if settings.listen_port.is_some() {
        tracing::info!(%addr, "listen address: {why}");
    }
    Ok(addr)
}
