//! A SAML 2.0 service provider for SP-initiated Web SSO (HTTP-Redirect AuthnRequest,
//! HTTP-POST Response), on saml-rs with its strict settings: assertions must be signed,
//! and audience, recipient, destination, `InResponseTo` and time windows are checked
//! by the library.
//!
//! Two things live in the caller's store, so that several front ends share them:
//! - the pending request, as a [`PendingLogin`] (serde) between the redirect and the
//!   response;
//! - the replay cache. [`finish`](ServiceProvider::finish) returns the identifiers the
//!   response used ([`SsoUser::seen`]), and the caller stores each one once, refusing
//!   the login when one was seen before.

use std::time::{Duration, SystemTime};

use base64::Engine;
use saml_rs::{
    AcsEndpoint, AssertionSignaturePolicy, BrowserInput, ClockSkew, EntityId, FormField,
    IdpDescriptor, MetadataTrustPolicy, PendingAuthnRequest, PendingSnapshot, RelayStateParam,
    ReplayKey, ReplayPolicy, Saml, SamlError, SamlValidationContext, Sp, SpConfig,
    SpValidationPolicy, SsoResponse, SsoSession, StartSso,
    constants::{Binding, CertUse},
};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Why a SAML step failed, in words for an admin's log; a browser sees less.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl From<SamlError> for Error {
    fn from(e: SamlError) -> Self {
        Error(format!("{e:?}"))
    }
}

/// A login sent to the IdP and not yet answered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    pub id: String,
    pub relay_state: Option<String>,
    pub idp_entity_id: String,
    expected_binding: String,
    request_binding: Option<String>,
    acs_url: String,
    acs_binding: String,
    acs_index: Option<u16>,
    acs_is_default: bool,
    issued_at: Option<String>,
    expires_at: Option<String>,
}

impl PendingLogin {
    fn of(pending: &PendingAuthnRequest) -> Self {
        let s = pending.snapshot();
        PendingLogin {
            id: s.id,
            relay_state: s.relay_state.as_deref().map(str::to_owned),
            idp_entity_id: s.peer_entity_id,
            expected_binding: s.expected_binding,
            request_binding: s.request_binding,
            acs_url: s.acs_url,
            acs_binding: s.acs_binding,
            acs_index: s.acs_index,
            acs_is_default: s.acs_is_default,
            issued_at: s.issued_at.map(|i| i.as_str().to_owned()),
            expires_at: s.expires_at.map(|i| i.as_str().to_owned()),
        }
    }

    fn pending(&self) -> Result<PendingAuthnRequest, Error> {
        let mut s = PendingSnapshot::<saml_rs::AuthnRequest>::authn_request(
            self.id.clone(),
            RelayStateParam::try_from_option(self.relay_state.clone())?,
            self.idp_entity_id.clone(),
            self.expected_binding.clone(),
            self.acs_url.clone(),
            self.acs_binding.clone(),
        );
        s.request_binding = self.request_binding.clone();
        s.acs_index = self.acs_index;
        s.acs_is_default = self.acs_is_default;
        s.issued_at = self
            .issued_at
            .clone()
            .map(saml_rs::SamlInstant::try_new)
            .transpose()?;
        s.expires_at = self
            .expires_at
            .clone()
            .map(saml_rs::SamlInstant::try_new)
            .transpose()?;
        Ok(PendingAuthnRequest::from_snapshot(s)?)
    }
}

/// Who the IdP says logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoUser {
    pub name_id: String,
    /// Every attribute with its values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// The response's and assertions' identifiers, with when they may be forgotten:
    /// the caller's replay cache stores each once.
    pub seen: Vec<(String, SystemTime)>,
}

impl SsoUser {
    /// The values of attribute `name`.
    pub fn values(&self, name: &str) -> &[String] {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// Collects the identifiers the library asks to check; the caller's store decides.
#[derive(Default)]
struct Seen(Vec<(String, SystemTime)>);

impl saml_rs::ReplayCache for Seen {
    fn check_and_store(&mut self, key: ReplayKey, expires_at: SystemTime) -> Result<(), SamlError> {
        let key = format!("{}:{}", key.kind(), key.value());
        if self.0.iter().any(|(k, _)| *k == key) {
            return Err(SamlError::Invalid(format!("identifier {key} used twice")));
        }
        self.0.push((key, expires_at));
        Ok(())
    }
}

/// What an IdP's metadata declares, for the admin who uploaded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpInfo {
    pub entity_id: String,
    /// Where AuthnRequests go (HTTP-Redirect binding).
    pub sso_url: Option<String>,
    /// The certificates its signatures are checked with.
    pub signing_certificates: Vec<Certificate>,
}

/// An X.509 certificate, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub subject: String,
    /// SHA-256 of the DER, `AA:BB:…`.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
}

/// Reads an IdP's metadata XML (unsigned metadata is accepted: an admin uploads it).
pub fn describe_idp(metadata_xml: &str) -> Result<IdpInfo, Error> {
    let idp = IdpDescriptor::from_metadata_xml(
        metadata_xml,
        MetadataTrustPolicy::UnsignedForCompatibility,
    )?;
    let meta = idp.metadata();
    let signing_certificates = meta
        .x509_certificates(CertUse::Signing)
        .iter()
        .map(|b64| describe_certificate(b64))
        .collect::<Result<Vec<_>, _>>()?;
    if signing_certificates.is_empty() {
        return Err(Error(
            "the metadata declares no signing certificate: without one no response can be \
             trusted"
                .to_owned(),
        ));
    }
    Ok(IdpInfo {
        entity_id: idp.entity_id().as_str().to_owned(),
        sso_url: meta.get_single_sign_on_service(Binding::Redirect),
        signing_certificates,
    })
}

/// Describes a certificate given as metadata carries it (base64 DER, maybe wrapped).
fn describe_certificate(b64: &str) -> Result<Certificate, Error> {
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| Error(format!("a certificate in the metadata is not base64: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Error(format!("a certificate in the metadata is not X.509: {e}")))?;
    let sha256 = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(Certificate {
        subject: cert.subject().to_string(),
        sha256,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The SP with the strict policy: assertions must be signed.
fn build_sp(entity_id: &str, acs_url: &str) -> Result<Saml<Sp>, Error> {
    let mut policy = SpValidationPolicy::recommended();
    // recommended() would accept unsigned assertions.
    policy.assertions = AssertionSignaturePolicy::RequireSigned;
    Ok(Saml::sp(
        SpConfig::builder(EntityId::try_new(entity_id)?)
            .acs_endpoint(AcsEndpoint::post(acs_url)?)
            .validation(policy)
            .build()?,
    )?)
}

/// The metadata of the SP `entity_id` with its ACS at `acs_url`, for the IdP's admin
/// (there is no need for an IdP yet).
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> Result<String, Error> {
    Ok(build_sp(entity_id, acs_url)?.metadata_xml().to_owned())
}

/// This appliance as a SAML SP, with the one IdP it trusts.
pub struct ServiceProvider {
    sp: Saml<Sp>,
    idp: IdpDescriptor,
    clock_skew: ClockSkew,
}

impl ServiceProvider {
    /// `entity_id` and `acs_url` are this SP's; `idp_metadata` is the IdP's metadata
    /// XML (unsigned metadata is accepted: the admin uploads it). Time windows are
    /// widened by `clock_skew` each way.
    pub fn new(
        entity_id: &str,
        acs_url: &str,
        idp_metadata: &str,
        clock_skew: Duration,
    ) -> Result<Self, Error> {
        let sp = build_sp(entity_id, acs_url)?;
        let idp = IdpDescriptor::from_metadata_xml(
            idp_metadata,
            MetadataTrustPolicy::UnsignedForCompatibility,
        )?;
        let skew = i64::try_from(clock_skew.as_millis()).unwrap_or(i64::MAX);
        Ok(ServiceProvider {
            sp,
            idp,
            clock_skew: ClockSkew::from_millis(-skew, skew),
        })
    }

    /// The IdP's entity id.
    pub fn idp_entity_id(&self) -> &str {
        self.idp.entity_id().as_str()
    }

    /// This SP's metadata, for the IdP's admin.
    pub fn metadata_xml(&self) -> String {
        self.sp.metadata_xml().to_owned()
    }

    /// Starts a login: the IdP URL to redirect the browser to, and what to keep until
    /// the response comes.
    pub fn start(&self, relay_state: &str) -> Result<(String, PendingLogin), Error> {
        let relay = RelayStateParam::try_from_option(Some(relay_state.to_owned()))?;
        let started = self
            .sp
            .start_sso(&self.idp, StartSso::redirect().relay_state(relay))?;
        let url = started.outbound.redirect_url()?.to_string();
        Ok((url, PendingLogin::of(&started.pending)))
    }

    /// Checks the IdP's POSTed response (`SAMLResponse`, `RelayState`) against the
    /// pending login.
    pub fn finish(
        &self,
        pending: &PendingLogin,
        saml_response: &str,
        relay_state: Option<&str>,
        now: SystemTime,
    ) -> Result<SsoUser, Error> {
        let mut fields = vec![FormField::new("SAMLResponse", saml_response)];
        if let Some(rs) = relay_state {
            fields.push(FormField::new("RelayState", rs));
        }
        let mut seen = Seen::default();
        let session = self.sp.finish_sso(
            &self.idp,
            &pending.pending()?,
            BrowserInput::<SsoResponse>::post(fields),
            SamlValidationContext::new(now, ReplayPolicy::RequireCache(&mut seen))
                .with_clock_skew(self.clock_skew),
        )?;
        Ok(SsoUser::of(&session, seen))
    }

    /// Checks a response the IdP sent unasked (IdP-initiated SSO): everything
    /// [`finish`](Self::finish) checks but `InResponseTo`, which must be absent.
    pub fn accept_unsolicited(
        &self,
        saml_response: &str,
        relay_state: Option<&str>,
        now: SystemTime,
    ) -> Result<SsoUser, Error> {
        let mut fields = vec![FormField::new("SAMLResponse", saml_response)];
        if let Some(rs) = relay_state {
            fields.push(FormField::new("RelayState", rs));
        }
        let mut seen = Seen::default();
        let session = self.sp.accept_unsolicited_sso(
            &self.idp,
            BrowserInput::<SsoResponse>::post(fields),
            SamlValidationContext::new(now, ReplayPolicy::RequireCache(&mut seen))
                .with_clock_skew(self.clock_skew),
        )?;
        Ok(SsoUser::of(&session, seen))
    }
}

impl SsoUser {
    fn of(session: &SsoSession, seen: Seen) -> Self {
        let attributes = session
            .attributes()
            .as_slice()
            .iter()
            .map(|a| {
                (
                    a.name().to_owned(),
                    a.values().iter().map(|v| v.as_str().to_owned()).collect(),
                )
            })
            .collect();
        SsoUser {
            name_id: session.name_id().value().to_owned(),
            attributes,
            seen: seen.0,
        }
    }
}
