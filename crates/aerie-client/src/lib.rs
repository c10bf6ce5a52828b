//! A typed HTTPS client for Aerie's JSON API.
//!
//! Aerie appliances present self-signed certificates, so the client never consults the
//! operating system's trust store: it trusts exactly one pinned certificate (by SHA-256
//! of its DER encoding), and still checks that the server holds that certificate's key.

pub mod artifacts;
mod pin;
pub mod traffic;

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};

use aerie_proto::{
    ErrorBody, Health,
    auth::{ApiKeyInfo, ApiKeySecret, CreateApiKey, LoginRequest, LoginResponse},
    events::{EventBatch, IngestResponse},
    incidents::{IncidentDetail, IncidentList, IncidentListParams, IncidentOut, StatusRequest},
};

pub use pin::{Fingerprint, PinError, Recorder, Trust, provider};

/// The rustls configuration of a client with `trust` over `provider`, for tests that
/// speak TLS directly (no ALPN).
pub fn testing_client_config(
    trust: Trust,
    provider: rustls::crypto::CryptoProvider,
) -> rustls::ClientConfig {
    let mut config = pin::client_config_with(trust, provider);
    config.alpn_protocols.clear();
    config
}

/// The rustls configuration of a client with `trust` that speaks another protocol than
/// HTTPS over TLS (no ALPN), FIPS-aware: the SIEM feed's syslog over TLS.
pub fn stream_client_config(trust: Trust, fips: bool) -> rustls::ClientConfig {
    testing_client_config(trust, provider(fips))
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status}: {}{}", body.error, body.field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api { status: StatusCode, body: ErrorBody },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl ClientError {
    /// The error a failed answer carries: its JSON error body, or its text as the error.
    pub fn answered(status: StatusCode, bytes: &[u8]) -> ClientError {
        let body = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
            error: String::from_utf8_lossy(bytes).into_owned(),
            field: None,
            code: None,
        });
        ClientError::Api { status, body }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's federation error code, if it sent a known one.
    pub fn code(&self) -> Option<aerie_proto::federation::FederationCode> {
        match self {
            ClientError::Api { body, .. } => body.code.as_deref()?.parse().ok(),
            _ => None,
        }
    }

    /// Whether the server presented another certificate than the pinned one.
    pub fn is_pin_mismatch(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = source {
            if e.to_string().contains(pin::PIN_MISMATCH) {
                return true;
            }
            source = e.source();
        }
        false
    }

    /// The innermost cause, for messages that say why a server is unreachable.
    pub fn root_cause(&self) -> String {
        let mut last = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            last = e.to_string();
            source = e.source();
        }
        last
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A connection to one Aerie server, optionally authenticated.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("authenticated", &self.token.is_some())
            .finish()
    }
}

impl Client {
    /// A client for `base` (e.g. `https://127.0.0.1:8443`) that trusts only the
    /// certificate with this fingerprint.
    pub fn new(base: &str, pin: Fingerprint) -> Result<Client> {
        Client::with_trust(base, Trust::Pinned(pin))
    }

    /// A client for `base` trusting the server certificate as `trust` says.
    pub fn with_trust(base: &str, trust: Trust) -> Result<Client> {
        Client::with_options(base, trust, false)
    }

    /// A client for `base`; with `fips`, TLS offers FIPS-approved algorithms only.
    pub fn with_options(base: &str, trust: Trust, fips: bool) -> Result<Client> {
        let tls = pin::client_config(trust, fips);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    /// The same connection, authenticated with a session token or API key.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The underlying HTTP client, for requests this library does not model.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path`, authenticated if this client is.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            None => req,
        }
    }

    /// Sends a request built with [`Client::request`] and decodes the JSON answer.
    pub async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            return Err(ClientError::answered(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn health(&self) -> Result<Health> {
        self.get("/healthz").await
    }

    /// Logs in and returns a client authenticated with the new session.
    pub async fn login(&self, username: &str, password: &str) -> Result<(Client, LoginResponse)> {
        let body = LoginRequest {
            username: username.into(),
            password: password.into(),
        };
        let resp: LoginResponse = self.post("/api/v1/login", &body).await?;
        Ok((self.with_token(&resp.token), resp))
    }

    pub async fn logout(&self) -> Result<()> {
        let _: serde_json::Value = self.post("/api/v1/logout", &serde_json::json!({})).await?;
        Ok(())
    }

    pub async fn create_api_key(&self, name: &str) -> Result<ApiKeySecret> {
        self.post("/api/v1/api-keys", &CreateApiKey { name: name.into() })
            .await
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        self.get("/api/v1/api-keys").await
    }

    pub async fn rotate_api_key(&self, id: i64) -> Result<ApiKeySecret> {
        self.post(
            &format!("/api/v1/api-keys/{id}/rotate"),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<ApiKeyInfo> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/api-keys/{id}")))
            .await
    }

    /// Uploads a screenshot or trace; `kind` (screenshot, trace) is checked against the
    /// content when given.
    pub async fn upload_artifact(
        &self,
        bytes: Vec<u8>,
        kind: Option<&str>,
    ) -> Result<aerie_proto::investigation::ArtifactOut> {
        let path = match kind {
            Some(k) => format!("/api/v1/artifacts?kind={k}"),
            None => "/api/v1/artifacts".to_owned(),
        };
        let req = self
            .request(Method::POST, &path)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        self.send(req).await
    }

    /// GETs `path` and returns the raw answer (downloads: artifacts, IVPs, feeds).
    pub async fn download(&self, path: &str) -> Result<(reqwest::header::HeaderMap, Vec<u8>)> {
        let resp = self.request(Method::GET, path).send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            return Err(ClientError::answered(status, &bytes));
        }
        Ok((headers, bytes.to_vec()))
    }

    pub async fn post_events(&self, batch: &EventBatch) -> Result<IngestResponse> {
        self.post("/api/v1/events", batch).await
    }

    pub async fn incidents(&self, params: &IncidentListParams) -> Result<IncidentList> {
        self.send(self.request(Method::GET, "/api/v1/incidents").query(params))
            .await
    }

    pub async fn incident(&self, id: i64) -> Result<IncidentDetail> {
        self.get(&format!("/api/v1/incidents/{id}")).await
    }

    pub async fn change_status(&self, id: i64, status: &str, comment: &str) -> Result<IncidentOut> {
        let body = StatusRequest {
            status: status.into(),
            comment: comment.into(),
        };
        self.post(&format!("/api/v1/incidents/{id}/status"), &body)
            .await
    }
}
