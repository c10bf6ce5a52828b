//! Certificate Management: the HTTPS certificate this appliance serves (shown, replaced
//! by a new self-signed one, by a CA-signed one through a CSR, or by an uploaded
//! certificate and key) and the trust store of CA certificates for outgoing connections.
//!
//! A replacement is served from the next handshake on. Federation follows by itself (docs/protocol.md, "Certificate
//! changes"): a CM tells its MCM its new fingerprint on its next sync; CMs of an MCM
//! whose certificate changed ask it to prove the new one with the device key.

use chrono::{DateTime, TimeDelta, Utc};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::rights::Operator;
use crate::{audit, error::OpError, state::AppState, tls};

/// The setting holding the trust store: a JSON list of PEM certificates.
const TRUST: &str = "tls.trust";
/// Days before expiry from which admins see a warning.
pub const WARN_DAYS: i64 = 30;

/// One certificate as the page shows it.
#[derive(Clone, Debug)]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the DER, `AA:BB:…`.
    pub fingerprint: String,
    pub serial: String,
    pub self_signed: bool,
    pub is_ca: bool,
}

impl CertView {
    pub fn of(der: &[u8]) -> Result<CertView, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => Some(
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).ok()?).to_string(),
                        ),
                        16 => Some(
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).ok()?).to_string(),
                        ),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
        };
        Ok(CertView {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names,
            not_before: time(cert.validity().not_before),
            not_after: time(cert.validity().not_after),
            fingerprint: aerie_client::Fingerprint::of(der).to_string(),
            serial: cert.raw_serial_as_string(),
            self_signed: cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok(),
            is_ca: cert.is_ca(),
        })
    }

    /// "expires in 12 days" and the like, when it is time to act.
    pub fn expiry_warning(&self, now: DateTime<Utc>) -> Option<String> {
        let left = self.not_after - now;
        if left <= TimeDelta::zero() {
            Some(format!(
                "expired on {}",
                self.not_after.format("%Y-%m-%d %H:%M UTC")
            ))
        } else if left <= TimeDelta::days(WARN_DAYS) {
            Some(format!(
                "expires on {} ({} days left)",
                self.not_after.format("%Y-%m-%d"),
                left.num_days()
            ))
        } else {
            None
        }
    }
}

/// What the page shows.
pub struct Certificates {
    /// The served chain, leaf first.
    pub served: Vec<CertView>,
    /// A request made here whose certificate has not come back yet.
    pub pending_csr: Option<String>,
    pub trust: Vec<CertView>,
}

pub async fn view(state: &AppState) -> Result<Certificates, OpError> {
    let served = state
        .tls
        .current()
        .chain
        .iter()
        .map(|c| CertView::of(c).map_err(OpError::internal))
        .collect::<Result<_, _>>()?;
    let files = tls::Files::of(&state.config.data_dir);
    let pending_csr = std::fs::read_to_string(files.pending_key.with_extension("csr")).ok();
    let trust = trust_store(state)
        .await?
        .iter()
        .filter_map(|der| CertView::of(der).ok())
        .collect();
    Ok(Certificates {
        served,
        pending_csr,
        trust,
    })
}

/// The warning admins see on every page while the served certificate is near expiry.
pub fn expiry_banner(state: &AppState) -> Option<String> {
    let current = state.tls.current();
    let view = CertView::of(&current.cert_der).ok()?;
    view.expiry_warning(Utc::now()).map(|w| {
        format!("The HTTPS certificate {w}: replace it in Config › Certificate Management.")
    })
}

/// The CA certificates trusted for outgoing connections, DER.
pub async fn trust_store(state: &AppState) -> Result<Vec<CertificateDer<'static>>, OpError> {
    let pems: Vec<String> = match state.store.setting(TRUST).await? {
        Some(json) => serde_json::from_str(&json).map_err(OpError::internal)?,
        None => Vec::new(),
    };
    pems.iter()
        .map(|p| CertificateDer::from_pem_slice(p.as_bytes()).map_err(OpError::internal))
        .collect()
}

fn bad(field: &str, message: impl Into<String>) -> OpError {
    OpError::invalid(field, message.into())
}

/// Checks a chain for serving: the leaf is valid now, the key (when given) is the leaf's,
/// each certificate is issued by the next, and the last is self-signed or issued by a CA
/// of the trust store. Returns a warning when the leaf expires soon.
fn check_chain(
    chain: &[CertificateDer<'static>],
    key: Option<&PrivateKeyDer<'static>>,
    trust: &[CertificateDer<'static>],
    now: DateTime<Utc>,
) -> Result<Option<String>, OpError> {
    let field = "certificate";
    let parsed: Vec<X509Certificate> = chain
        .iter()
        .enumerate()
        .map(|(n, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|e| bad(field, format!("certificate {} is not X.509: {e}", n + 1)))
        })
        .collect::<Result<_, _>>()?;
    let leaf = CertView::of(&chain[0]).map_err(|e| bad(field, e))?;
    if leaf.not_before > now {
        return Err(bad(
            field,
            format!(
                "the certificate is not valid before {}",
                leaf.not_before.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    if leaf.not_after <= now {
        return Err(bad(
            field,
            format!(
                "the certificate expired on {}",
                leaf.not_after.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    if let Some(key) = key {
        let provider = aerie_client::provider(false);
        rustls::sign::CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider).map_err(
            |e| match e {
                rustls::Error::InconsistentKeys(_) => bad(
                    "key",
                    "the private key does not belong to the certificate (their public keys differ)",
                ),
                other => bad("key", format!("the private key cannot be used: {other}")),
            },
        )?;
    }
    for n in 0..parsed.len().saturating_sub(1) {
        let (cert, issuer) = (&parsed[n], &parsed[n + 1]);
        if cert.issuer() != issuer.subject()
            || cert.verify_signature(Some(issuer.public_key())).is_err()
        {
            return Err(bad(
                field,
                format!(
                    "certificate {} ({}) was not issued by the next one in the chain ({}): \
                     give the chain leaf first, each certificate followed by its issuer",
                    n + 1,
                    cert.subject(),
                    issuer.subject()
                ),
            ));
        }
    }
    let last = parsed.last().expect("a chain has a certificate");
    let anchored = (last.subject() == last.issuer() && last.verify_signature(None).is_ok())
        || trust.iter().any(|ca| {
            X509Certificate::from_der(ca).is_ok_and(|(_, ca)| {
                ca.subject() == last.issuer()
                    && last.verify_signature(Some(ca.public_key())).is_ok()
            })
        });
    if !anchored {
        return Err(bad(
            field,
            format!(
                "the chain ends at a certificate issued by {}, which is neither in the chain nor in \
                 the trust store: include the CA's certificate, or add it to the trust store first",
                last.issuer()
            ),
        ));
    }
    Ok(leaf.expiry_warning(now))
}

/// Installs and serves a checked chain and key; tells federation.
async fn serve(
    state: &AppState,
    by: Operator<'_>,
    how: &str,
    chain_pem: &str,
    key_pem: &str,
    warning: Option<String>,
) -> Result<String, OpError> {
    let dir = state.config.data_dir.clone();
    let (chain_pem, key_pem) = (chain_pem.to_owned(), key_pem.to_owned());
    let identity = tokio::task::spawn_blocking(move || tls::install(&dir, &chain_pem, &key_pem))
        .await
        .map_err(OpError::internal)?
        .map_err(|e| OpError::internal(format!("{e:#}")))?;
    let old = state.appliance.identity.fingerprint();
    let new = aerie_client::Fingerprint::of(&identity.cert_der).to_string();
    state
        .tls
        .replace(identity)
        .map_err(|e| OpError::internal(format!("{e:#}")))?;
    state.appliance.identity.set_fingerprint(new.clone());
    // A registered CM tells its MCM at once.
    state.federation.cm.wake();
    audit::record(
        state,
        by.name(),
        "tls.certificate",
        "appliance",
        format!("{how}: {old} → {new}"),
    )
    .await?;
    tracing::info!(how, from = %old, to = %new, "HTTPS certificate replaced");
    Ok(match warning {
        Some(w) => format!("Certificate installed ({how}); SHA-256 {new}. Warning: it {w}."),
        None => format!("Certificate installed ({how}); SHA-256 {new}."),
    })
}

/// A new self-signed certificate for the host name.
pub async fn generate(state: &AppState, by: Operator<'_>) -> Result<String, OpError> {
    let hostname = state.appliance.hostname().await?;
    let (cert, key) =
        tls::self_signed(&hostname).map_err(|e| OpError::internal(format!("{e:#}")))?;
    serve(state, by, "new self-signed", &cert, &key, None).await
}

/// Parses the names of a CSR: host names and IP addresses, separated by commas or space.
fn request_names(common_name: &str, names: &str) -> Result<Vec<String>, OpError> {
    let mut out = Vec::new();
    for n in std::iter::once(common_name).chain(names.split([',', ' ', '\n'])) {
        let n = n.trim();
        if n.is_empty() || out.iter().any(|o| o == n) {
            continue;
        }
        if n.parse::<std::net::IpAddr>().is_err()
            && aerie_domain::net::HostName::parse("names", n).is_err()
        {
            return Err(bad(
                "names",
                format!("{n:?} is neither a host name nor an IP address"),
            ));
        }
        out.push(n.to_owned());
    }
    if out.is_empty() {
        return Err(bad(
            "common_name",
            "a request needs the host name it is for",
        ));
    }
    Ok(out)
}

/// A certificate signing request for `common_name` and `names`, with a new key kept here
/// until the signed certificate comes back. Returns the CSR (PEM) to give the CA.
pub async fn request(
    state: &AppState,
    by: Operator<'_>,
    common_name: &str,
    names: &str,
    organization: &str,
) -> Result<String, OpError> {
    let names = request_names(common_name, names)?;
    let mut params =
        rcgen::CertificateParams::new(names.clone()).map_err(|e| bad("names", format!("{e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].as_str());
    if !organization.trim().is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, organization.trim());
    }
    let key = rcgen::KeyPair::generate().map_err(OpError::internal)?;
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(OpError::internal)?;
    let files = tls::Files::of(&state.config.data_dir);
    let _ = std::fs::remove_file(&files.pending_key);
    tls::write_private(&files.pending_key, key.serialize_pem().as_bytes())
        .map_err(|e| OpError::internal(format!("{e:#}")))?;
    std::fs::write(files.pending_key.with_extension("csr"), &csr).map_err(OpError::internal)?;
    audit::record(
        state,
        by.name(),
        "tls.csr",
        "appliance",
        format!("names {}", names.join(", ")),
    )
    .await?;
    Ok(csr)
}

/// Installs the CA-signed certificate (and chain) for the pending request.
pub async fn install_signed(
    state: &AppState,
    by: Operator<'_>,
    chain_pem: &str,
) -> Result<String, OpError> {
    let files = tls::Files::of(&state.config.data_dir);
    let key_pem = std::fs::read_to_string(&files.pending_key).map_err(|_| {
        bad(
            "certificate",
            "no certificate request is pending: create one first (or upload a certificate with its key)",
        )
    })?;
    let chain = tls::parse_chain(chain_pem).map_err(|e| bad("certificate", format!("{e:#}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(OpError::internal)?;
    let warning = check_chain(&chain, Some(&key), &trust_store(state).await?, Utc::now())?;
    let said = serve(
        state,
        by,
        "CA-signed, from the request",
        chain_pem,
        &key_pem,
        warning,
    )
    .await?;
    let _ = std::fs::remove_file(files.pending_key.with_extension("csr"));
    let _ = std::fs::remove_file(&files.pending_key);
    Ok(said)
}

/// Installs an uploaded certificate (chain) and its private key.
pub async fn upload(
    state: &AppState,
    by: Operator<'_>,
    chain_pem: &str,
    key_pem: &str,
) -> Result<String, OpError> {
    let chain = tls::parse_chain(chain_pem).map_err(|e| bad("certificate", format!("{e:#}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| bad("key", "not a PEM private key (-----BEGIN PRIVATE KEY-----)"))?;
    let warning = check_chain(&chain, Some(&key), &trust_store(state).await?, Utc::now())?;
    serve(state, by, "uploaded", chain_pem, key_pem, warning).await
}

/// Adds a CA certificate to the trust store.
pub async fn trust_add(state: &AppState, by: Operator<'_>, pem: &str) -> Result<String, OpError> {
    let chain = tls::parse_chain(pem).map_err(|e| bad("ca", format!("{e:#}")))?;
    if chain.len() != 1 {
        return Err(bad("ca", "add one CA certificate at a time"));
    }
    let view = CertView::of(&chain[0]).map_err(|e| bad("ca", e))?;
    if !view.is_ca {
        return Err(bad(
            "ca",
            format!(
                "{} is not a CA certificate (no basicConstraints CA:TRUE)",
                view.subject
            ),
        ));
    }
    if view.not_after <= Utc::now() {
        return Err(bad("ca", format!("{} has expired", view.subject)));
    }
    let mut pems: Vec<String> = match state.store.setting(TRUST).await? {
        Some(json) => serde_json::from_str(&json).map_err(OpError::internal)?,
        None => Vec::new(),
    };
    let current = trust_store(state).await?;
    if current.iter().any(|c| c.as_ref() == chain[0].as_ref()) {
        return Ok(format!("{} is already trusted.", view.subject));
    }
    pems.push(pem.trim().to_owned());
    state
        .store
        .set_setting(
            TRUST,
            &serde_json::to_string(&pems).map_err(OpError::internal)?,
        )
        .await?;
    audit::record(
        state,
        by.name(),
        "tls.trust.add",
        "trust store",
        format!("{} ({})", view.subject, view.fingerprint),
    )
    .await?;
    Ok(format!(
        "Trusted {} (SHA-256 {}).",
        view.subject, view.fingerprint
    ))
}

/// Removes the CA certificate with `fingerprint` from the trust store.
pub async fn trust_remove(
    state: &AppState,
    by: Operator<'_>,
    fingerprint: &str,
) -> Result<String, OpError> {
    let pems: Vec<String> = match state.store.setting(TRUST).await? {
        Some(json) => serde_json::from_str(&json).map_err(OpError::internal)?,
        None => Vec::new(),
    };
    let (gone, kept): (Vec<String>, Vec<String>) = pems.into_iter().partition(|p| {
        CertificateDer::from_pem_slice(p.as_bytes())
            .is_ok_and(|d| aerie_client::Fingerprint::of(&d).to_string() == fingerprint)
    });
    if gone.is_empty() {
        return Err(OpError::not_found(format!(
            "trusted certificate {fingerprint}"
        )));
    }
    state
        .store
        .set_setting(
            TRUST,
            &serde_json::to_string(&kept).map_err(OpError::internal)?,
        )
        .await?;
    audit::record(
        state,
        by.name(),
        "tls.trust.remove",
        "trust store",
        fingerprint,
    )
    .await?;
    Ok(format!("No longer trusted: {fingerprint}."))
}
