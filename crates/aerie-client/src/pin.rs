//! Certificate pinning: trust one certificate, identified by the SHA-256 of its DER.

use std::{fmt, str::FromStr, sync::Arc};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};

/// The SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert_der: &[u8]) -> Fingerprint {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }

    /// The fingerprint of the first certificate in a PEM text.
    pub fn of_pem(pem: &str) -> Result<Fingerprint, PinError> {
        use rustls::pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| PinError::Pem)?;
        Ok(Fingerprint::of(&der))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = PinError;
    fn from_str(s: &str) -> Result<Self, PinError> {
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 {
            return Err(PinError::Fingerprint);
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| PinError::Fingerprint)?;
        }
        Ok(Fingerprint(out))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("not a PEM certificate")]
    Pem,
    #[error("a fingerprint is 64 hex digits, optionally separated by ':'")]
    Fingerprint,
}

/// Accepts exactly the pinned certificate; handshake signatures are verified normally,
/// so a peer must hold the certificate's private key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Fingerprint::of(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate {} {PIN_MISMATCH} {}",
                Fingerprint::of(end_entity),
                self.pin
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where a client's trust in the server certificate comes from.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Only this certificate.
    Pinned(Fingerprint),
    /// Any certificate, remembering the one presented: for a first contact whose
    /// authenticity is proven another way (federation binds a proof to it), after which
    /// the remembered fingerprint is pinned.
    Record(Recorder),
}

/// The fingerprint a [`Trust::Record`] client saw last.
pub type Recorder = Arc<std::sync::Mutex<Option<Fingerprint>>>;

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("recorder lock") = Some(Fingerprint::of(end_entity));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any certificate (handshake signatures still checked) and records it.
#[derive(Debug)]
struct RecordingVerifier {
    seen: Recorder,
    inner: PinnedVerifier,
}

/// The text rustls reports when the pinned certificate is not the one presented.
pub(crate) const PIN_MISMATCH: &str = "is not the pinned";

/// The aws-lc-rs provider; in FIPS mode restricted to FIPS-approved algorithms: AES-GCM
/// suites only (no ChaCha20-Poly1305) and NIST curves only (no X25519).
pub fn provider(fips: bool) -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if fips {
        use rustls::{CipherSuite as S, NamedGroup as G};
        provider.cipher_suites.retain(|s| {
            matches!(
                s.suite(),
                S::TLS13_AES_128_GCM_SHA256
                    | S::TLS13_AES_256_GCM_SHA384
                    | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                    | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                    | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                    | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            )
        });
        provider
            .kx_groups
            .retain(|g| matches!(g.name(), G::secp256r1 | G::secp384r1));
    }
    provider
}

/// A rustls client configuration for `trust`.
pub(crate) fn client_config(trust: Trust, fips: bool) -> rustls::ClientConfig {
    client_config_with(trust, provider(fips))
}

/// A rustls client configuration for `trust` over `provider`.
pub(crate) fn client_config_with(trust: Trust, provider: CryptoProvider) -> rustls::ClientConfig {
    let provider = Arc::new(provider);
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Pinned(pin) => Arc::new(PinnedVerifier {
            pin,
            provider: provider.clone(),
        }),
        Trust::Record(seen) => Arc::new(RecordingVerifier {
            seen,
            inner: PinnedVerifier {
                pin: Fingerprint([0; 32]),
                provider: provider.clone(),
            },
        }),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_provider_keeps_approved_algorithms_only() {
        let fips = provider(true);
        assert!(!fips.cipher_suites.is_empty() && !fips.kx_groups.is_empty());
        assert!(
            fips.cipher_suites
                .iter()
                .all(|s| !format!("{:?}", s.suite()).contains("CHACHA20"))
        );
        assert!(
            fips.kx_groups
                .iter()
                .all(|g| !format!("{:?}", g.name()).contains("X25519"))
        );
        let all = provider(false);
        assert!(all.cipher_suites.len() > fips.cipher_suites.len());
    }

    #[test]
    fn fingerprint_text_round_trips() {
        let fp = Fingerprint::of(b"certificate");
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    }
}
