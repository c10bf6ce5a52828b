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

/// The certificate and key the daemon serves.
pub struct TlsIdentity {
    pub cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
    pub cert_path: PathBuf,
}

/// Days a generated certificate is valid.
const VALIDITY_DAYS: i64 = 825;

/// Loads `DIR/tls/cert.pem` and `key.pem`, creating them for `hostname` if neither exists.
pub fn load_or_create(data_dir: &Path, hostname: &str) -> anyhow::Result<TlsIdentity> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {}
        (false, false) => {
            fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let (cert_pem, key_pem) = generate(hostname)?;
            write_private(&key_path, key_pem.as_bytes())?;
            fs::write(&cert_path, cert_pem)
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
    let cert_der = CertificateDer::from_pem_file(&cert_path)
        .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
    let key_der = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("{} is not a PEM private key", key_path.display()))?;
    Ok(TlsIdentity {
        cert_der,
        key_der,
        cert_path,
    })
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

/// Writes a file only its owner may read.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(contents)
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
            .with_single_cert(vec![self.cert_der.clone()], self.key_der.clone_key())
            .context("the certificate does not match its private key")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
