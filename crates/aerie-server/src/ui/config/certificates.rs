//! Config › Certificate Management: the served HTTPS certificate, a new self-signed one,
//! a CSR and its signed certificate, an upload, and the trust store.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::{Markup, html};

use super::config_page;
use crate::ops::certificates::{self, CertView};
use crate::rights::{Administer, Can, Operator};
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

const PAGE: &str = "/config/certificates";

fn card(frame: &Frame, id: &str, c: &CertView) -> Markup {
    let now = chrono::Utc::now();
    html! {
        dl.summary id=(id) {
            dt { "Subject" } dd.subject { (c.subject) }
            dt { "Names (SAN)" } dd.sans { @if c.names.is_empty() { "—" } @else { (c.names.join(", ")) } }
            dt { "Issuer" } dd.issuer { (c.issuer) @if c.self_signed { " " span.muted { "(self-signed)" } } }
            dt { "Valid from" } dd { (frame.clock.time(&c.not_before.to_rfc3339())) }
            dt { "Valid until" } dd.until {
                (frame.clock.time(&c.not_after.to_rfc3339()))
                @if let Some(w) = c.expiry_warning(now) { " " strong.warn { "— " (w) } }
            }
            dt { "SHA-256" } dd { code.fingerprint { (c.fingerprint) } }
            dt { "Serial" } dd { code { (c.serial) } }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let v = certificates::view(&state).await?;
    let action =
        |name: &str| html! { (frame.csrf_field()) input type="hidden" name="action" value=(name); };
    let body = html! {
        p {
            "The certificate this appliance serves over HTTPS. A new one is served at once; "
            "federation follows by itself (a CM tells its MCM; CMs ask a changed MCM to prove "
            "its new certificate with the device key)."
        }
        section.card #served {
            h2 { "HTTPS certificate" }
            (card(&frame, "served-cert", &v.served[0]))
            @if v.served.len() > 1 {
                p.muted { "Served with " (v.served.len() - 1) " issuer certificate(s):" }
                @for (n, c) in v.served.iter().enumerate().skip(1) {
                    (card(&frame, &format!("chain-{n}"), c))
                }
            }
            form #generate method="post" action=(PAGE) {
                (action("generate"))
                button type="submit" { "Generate a new self-signed certificate" }
            }
        }
        section.card #csr {
            h2 { "Certificate signing request" }
            @if let Some(csr) = &v.pending_csr {
                p { "Give this request to your CA, then paste the certificate it returns (with its chain) below." }
                textarea #csr-pem readonly rows="8" { (csr) }
            }
            form #csr-form method="post" action=(PAGE) {
                (action("csr"))
                label for="common_name" { "Host name (common name)" }
                input #common_name name="common_name" value=(frame.hostname);
                label for="names" { "More names (host names or IP addresses, comma-separated)" }
                input #names name="names";
                label for="organization" { "Organization (optional)" }
                input #organization name="organization";
                button type="submit" { "Create request" }
            }
            form #signed-form method="post" action=(PAGE) {
                (action("signed"))
                label for="signed" { "Signed certificate, leaf first, then its issuers (PEM)" }
                textarea #signed name="certificate" rows="6" {}
                button type="submit" { "Install signed certificate" }
            }
        }
        section.card #upload {
            h2 { "Upload a certificate and its key" }
            form #upload-form method="post" action=(PAGE) {
                (action("upload"))
                label for="up-cert" { "Certificate, leaf first, then its issuers (PEM)" }
                textarea #up-cert name="certificate" rows="6" {}
                label for="up-key" { "Private key (PEM; never shown back)" }
                textarea #up-key name="key" rows="4" autocomplete="off" {}
                button type="submit" { "Upload" }
            }
        }
        section.card #trust {
            h2 { "Trust store" }
            p { "CA certificates trusted for outgoing connections (update repository) and for certificate chains installed here." }
            table.compact #trusted {
                thead { tr { th { "Subject" } th { "Valid until" } th { "SHA-256" } th {} } }
                tbody {
                    @for c in &v.trust {
                        tr {
                            td { (c.subject) }
                            td { (frame.clock.time(&c.not_after.to_rfc3339())) }
                            td { code { (c.fingerprint) } }
                            td {
                                form.inline method="post" action=(PAGE) {
                                    (action("untrust"))
                                    input type="hidden" name="fingerprint" value=(c.fingerprint);
                                    button type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                    @if v.trust.is_empty() { tr { td.empty colspan="4" { "No CA certificate is trusted yet." } } }
                }
            }
            form #trust-form method="post" action=(PAGE) {
                (action("trust"))
                label for="ca" { "CA certificate (PEM)" }
                textarea #ca name="ca" rows="5" {}
                button type="submit" { "Add to the trust store" }
            }
        }
    };
    Ok(config_page(&frame, PAGE, "Certificate Management", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    action: String,
    #[serde(default)]
    common_name: String,
    #[serde(default)]
    names: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    ca: String,
    #[serde(default)]
    fingerprint: String,
}

pub async fn action(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        let by = Operator::Admin(&can);
        match f.action.as_str() {
            "generate" => certificates::generate(&state, by).await,
            "csr" => certificates::request(&state, by, &f.common_name, &f.names, &f.organization)
                .await
                .map(|_| "Request created: give it to your CA (shown below).".to_owned()),
            "signed" => certificates::install_signed(&state, by, &f.certificate).await,
            "upload" => certificates::upload(&state, by, &f.certificate, &f.key).await,
            "trust" => certificates::trust_add(&state, by, &f.ca).await,
            "untrust" => certificates::trust_remove(&state, by, &f.fingerprint).await,
            other => Err(OpError::invalid("action", format!("no action {other:?}"))),
        }
    })
    .await
}
