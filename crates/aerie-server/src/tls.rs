//! The appliance's TLS identity: a self-signed certificate made on first start and the
//! rustls server configuration built from it.

use std::{
    fs,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, bail};
use chrono::{Datelike, TimeDelta, Utc};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// The certificate chain and key the daemon serves.
pub struct TlsIdentity {
    /// The leaf certificate.
    pub cert_der: CertificateDer<'static>,
    /// The leaf, then any intermediates, as served.
    pub chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
    pub cert_path: PathBuf,
}

/// Days a generated certificate is valid.
const VALIDITY_DAYS: i64 = 825;

/// The files of the identity in `DIR/tls`.
pub struct Files {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The key of a certificate signing request waiting for its certificate.
    pub pending_key: PathBuf,
}

impl Files {
    pub fn of(data_dir: &Path) -> Files {
        let dir = data_dir.join("tls");
        Files {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            pending_key: dir.join("pending-key.pem"),
            dir,
        }
    }

    fn staged(path: &Path) -> PathBuf {
        path.with_extension("pem.new")
    }
}

/// Loads `DIR/tls/cert.pem` and `key.pem`, creating them for `hostname` if neither exists,
/// and first finishes or undoes an [`install`] that a crash interrupted.
pub fn load_or_create(data_dir: &Path, hostname: &str) -> anyhow::Result<TlsIdentity> {
    let files = Files::of(data_dir);
    recover(&files)?;
    let (cert_path, key_path) = (&files.cert, &files.key);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {}
        (false, false) => {
            fs::create_dir_all(&files.dir)
                .with_context(|| format!("create {}", files.dir.display()))?;
            let (cert_pem, key_pem) = generate(hostname)?;
            write_private(key_path, key_pem.as_bytes())?;
            fs::write(cert_path, cert_pem)
                .with_context(|| format!("write {}", cert_path.display()))?;
            tracing::info!(cert = %cert_path.display(), "created a self-signed certificate for {hostname}");
        }
        _ => bail!(
            "{} and {} must both exist or both be absent: restore the missing one, or remove \
             both to generate a new certificate",
            cert_path.display(),
            key_path.display()
        ),
    }
    let chain = parse_chain(
        &fs::read_to_string(cert_path).with_context(|| format!("read {}", cert_path.display()))?,
    )
    .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
    let key_der = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("{} is not a PEM private key", key_path.display()))?;
    Ok(TlsIdentity {
        cert_der: chain[0].clone(),
        chain,
        key_der,
        cert_path: cert_path.clone(),
    })
}

/// The certificates of a PEM text, leaf first; at least one.
pub fn parse_chain(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("not PEM certificates: {e}"))?;
    if chain.is_empty() {
        bail!("no certificate (-----BEGIN CERTIFICATE-----) in the text");
    }
    Ok(chain)
}

/// An install writes `cert.pem.new` and `key.pem.new`, then renames the key, then the
/// certificate. Both staged files still there: the old pair is intact, drop the new one.
/// Only the certificate staged: the new key is in place, finish.
fn recover(files: &Files) -> anyhow::Result<()> {
    let (cert_new, key_new) = (Files::staged(&files.cert), Files::staged(&files.key));
    match (cert_new.exists(), key_new.exists()) {
        (true, true) | (false, true) => {
            let _ = fs::remove_file(&cert_new);
            fs::remove_file(&key_new).with_context(|| format!("remove {}", key_new.display()))?;
            tracing::warn!(
                "an interrupted certificate install was undone; the previous certificate stays"
            );
        }
        (true, false) => {
            fs::rename(&cert_new, &files.cert)
                .with_context(|| format!("rename {}", cert_new.display()))?;
            tracing::warn!("an interrupted certificate install was finished");
        }
        (false, false) => {}
    }
    Ok(())
}

/// Replaces the served certificate chain and key on disk, crash-safely (see [`recover`]).
pub fn install(data_dir: &Path, chain_pem: &str, key_pem: &str) -> anyhow::Result<TlsIdentity> {
    let files = Files::of(data_dir);
    let (cert_new, key_new) = (Files::staged(&files.cert), Files::staged(&files.key));
    let _ = fs::remove_file(&cert_new);
    let _ = fs::remove_file(&key_new);
    write_private(&key_new, key_pem.as_bytes())?;
    write_synced(&cert_new, chain_pem.as_bytes())?;
    fs::rename(&key_new, &files.key).with_context(|| format!("rename {}", key_new.display()))?;
    fs::rename(&cert_new, &files.cert).with_context(|| format!("rename {}", cert_new.display()))?;
    fs::File::open(&files.dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("sync {}", files.dir.display()))?;
    load_or_create(data_dir, "unused")
}

fn write_synced(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

/// A new self-signed certificate and key for `hostname`, as PEM.
pub fn self_signed(hostname: &str) -> anyhow::Result<(String, String)> {
    generate(hostname)
}

fn generate(hostname: &str) -> anyhow::Result<(String, String)> {
    let names = vec![
        hostname.to_owned(),
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ];
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Aerie appliance");
    let ymd =
        |t: chrono::DateTime<Utc>| rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    let now = Utc::now();
    params.not_before = ymd(now - TimeDelta::days(1));
    params.not_after = ymd(now + TimeDelta::days(VALIDITY_DAYS));
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a new file only its owner may read, synced.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

impl TlsIdentity {
    /// A rustls server configuration offering HTTP/2 and HTTP/1.1; in FIPS mode only
    /// FIPS-approved suites and groups.
    pub fn server_config(&self, fips: bool) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(aerie_client::provider(fips));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key_der.clone_key())
            .context("the certificate does not match its private key")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The served identity and the listener's rustls configuration, swapped together when the
/// certificate changes: new connections get the new certificate at once.
pub struct Served {
    rustls: axum_server::tls_rustls::RustlsConfig,
    fips: bool,
    current: std::sync::RwLock<Arc<TlsIdentity>>,
}

impl Served {
    pub fn new(identity: TlsIdentity, fips: bool) -> anyhow::Result<Served> {
        let rustls =
            axum_server::tls_rustls::RustlsConfig::from_config(identity.server_config(fips)?);
        Ok(Served {
            rustls,
            fips,
            current: std::sync::RwLock::new(Arc::new(identity)),
        })
    }

    pub fn rustls(&self) -> axum_server::tls_rustls::RustlsConfig {
        self.rustls.clone()
    }

    pub fn current(&self) -> Arc<TlsIdentity> {
        self.current.read().expect("tls lock").clone()
    }

    /// Serves `identity` from the next handshake on (open connections keep the session
    /// they established; CMs learn of the change from their next sync answer).
    pub fn replace(&self, identity: TlsIdentity) -> anyhow::Result<()> {
        self.rustls
            .reload_from_config(identity.server_config(self.fips)?);
        *self.current.write().expect("tls lock") = Arc::new(identity);
        Ok(())
    }
}
