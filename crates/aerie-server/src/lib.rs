//! Aerie's daemon: configuration, the HTTPS listener, authentication, and the JSON API.
//!
//! [`start`] brings one appliance up (data dir, certificate, store, admin account,
//! listener) and returns a [`Running`] handle; the daemon stops when the cancellation
//! token given to it is cancelled.

mod admin;
pub mod api;
pub mod appliance;
mod artifacts;
mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
mod connections;
mod error;
pub mod federation;
mod json;
pub mod metrics;
pub mod ops;
pub mod restore;
pub mod rights;
pub mod secret;
mod state;
mod throttle;
pub mod tls;
mod ui;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::{Config, ConfigLayer};

/// The parsers an attacker reaches that are not public otherwise, for the fuzz targets
/// (`crates/aerie-fuzz`).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::artifacts::check as check_artifact;
    pub use crate::ui::uploads::{UploadForm, read_form as read_upload_form};
}
pub use error::OpError;
pub use state::AppState;

/// How long in-flight requests may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A started daemon.
pub struct Running {
    /// The address actually bound (the port is chosen by the OS for `:0`).
    pub addr: SocketAddr,
    /// The DER of the certificate served, for clients to pin.
    pub cert_der: Vec<u8>,
    pub state: AppState,
    task: JoinHandle<std::io::Result<()>>,
    sync_worker: JoinHandle<()>,
}

impl Running {
    /// Waits until the server has stopped, then until the sync worker has: a daemon is
    /// down only when nothing of it runs.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self
            .task
            .await
            .context("server task panicked")?
            .context("server failed");
        self.sync_worker.await.context("sync worker panicked")?;
        // The background tasks (correlation, SIEM feed) stop with the same token; their
        // queries in flight finish first.
        self.state.store.close_connections().await;
        tracing::info!("stopped");
        served
    }
}

/// Installs the process-wide rustls crypto provider (aws-lc-rs); idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The full HTTP application: API routes, body cap, security headers.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let appliance = state.appliance.clone();
    let recorder = state.metrics.clone();
    api::router()
        .merge(api::compat::router())
        .merge(ui::router())
        .route_layer(axum::middleware::from_fn(
            move |path: axum::extract::MatchedPath,
                  request: axum::extract::Request,
                  next: axum::middleware::Next| {
                let recorder = recorder.clone();
                async move { metrics::track(&recorder, path, request, next).await }
            },
        ))
        .with_state(state)
        .layer(axum::middleware::map_response(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  response: axum::response::Response| {
                let appliance = appliance.clone();
                async move {
                    if !method.is_safe() {
                        appliance.note_write(&method, uri.path(), response.status());
                    }
                    response
                }
            },
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tracing_layer())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ui::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

type Request = axum::http::Request<axum::body::Body>;

/// The request tracing layer with our span maker and default outcome loggers.
type RequestTracing<MakeSpan> = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    MakeSpan,
    (),
    tower_http::trace::DefaultOnResponse,
    tower_http::trace::DefaultOnBodyChunk,
    tower_http::trace::DefaultOnEos,
    tower_http::trace::DefaultOnFailure,
>;

/// One span per request, named by a fresh request id, with the method and path; its
/// outcome is logged at debug level, failures (5xx) at warn.
fn tracing_layer() -> RequestTracing<impl Fn(&Request) -> tracing::Span + Clone> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
        })
        .on_request(())
        .on_failure(
            tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN),
        )
}

/// The URL peers reach this appliance at: configured, else the bound address (the host
/// name when bound to all addresses).
fn public_url(config: &Config, addr: SocketAddr, hostname: &str) -> String {
    match &config.public_url {
        Some(url) => url.clone(),
        None if addr.ip().is_unspecified() => format!("https://{hostname}:{}", addr.port()),
        None => format!("https://{addr}"),
    }
}

/// Starts one appliance; it runs until `shutdown` is cancelled. A first start takes the
/// admin password from `AERIE_ADMIN_PASSWORD`, or generates one.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    start_with_admin(config, shutdown, std::env::var("AERIE_ADMIN_PASSWORD").ok()).await
}

/// [`start`] with the first start's admin password given (`None`: generate one).
pub async fn start_with_admin(
    config: Config,
    shutdown: CancellationToken,
    admin_password: Option<String>,
) -> anyhow::Result<Running> {
    install_crypto_provider();
    tracing::info!(data_dir = %config.data_dir.display(), database = %config.database_url,
        listen = %config.listen, hostname = %config.hostname, "starting");
    bootstrap::data_dir(&config.data_dir)?;
    let tls = tls::load_or_create(&config.data_dir, &config.hostname)?;
    let store = aerie_store::open(config.database_url.expose())
        .await
        .with_context(|| format!("open the store at {}", config.database_url))?;
    tracing::info!("store ready");
    bootstrap::admin(store.as_ref(), &config.data_dir, admin_password).await?;
    let mut config = config;
    config.listen = bootstrap::listen(store.as_ref(), &config).await?;
    let fingerprint = aerie_client::Fingerprint::of(&tls.cert_der).to_string();
    let fips = store.setting(appliance::keys::FIPS).await?.as_deref() == Some("enabled");
    if fips {
        tracing::info!("FIPS mode: TLS restricted to FIPS-approved algorithms");
        if config.vendor_key_override.is_some() {
            anyhow::bail!(
                "vendor_public_key_override (a test setting) is refused in FIPS mode: remove it"
            );
        }
    }
    if let Some(key) = &config.vendor_key_override {
        tracing::warn!(key = %key.fingerprint(), "TEST vendor key in use for licenses and updates");
    }
    let cert_der = tls.cert_der.to_vec();
    let served = Arc::new(tls::Served::new(tls, fips)?);
    let appliance = Arc::new(appliance::Appliance::new(
        store.clone(),
        config.hostname.clone(),
        appliance::Identity::new(fingerprint),
    ));
    let state = AppState {
        federation: Arc::new(federation::Federation::new(
            store.clone(),
            appliance.clone(),
        )),
        store,
        config: Arc::new(config),
        appliance,
        login_throttle: Arc::new(throttle::Throttle::new(throttle::LOGINS)),
        downloads: Arc::new(tokio::sync::Semaphore::new(artifacts::MAX_DOWNLOADS)),
        tls: served,
        restart: Default::default(),
        metrics: Default::default(),
        siem: Default::default(),
    };

    // Read before anything can change it: see `CmSide::started_at_seq`.
    state
        .federation
        .cm
        .started_at_seq(state.store.last_change_seq().await?);
    let handle = axum_server::Handle::new();
    let rustls = state.tls.rustls();
    let deadline = state.config.header_timeout;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
        .handshake_timeout(deadline)
        .acceptor(connections::Limited::new(
            state.config.max_connections,
            state.config.idle_timeout,
        ));
    let mut server = axum_server::bind(state.config.listen)
        .acceptor(acceptor)
        .handle(handle.clone())
        .first_request_timeout(deadline);
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(deadline);
    let app = app(state.clone());
    let task = tokio::spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    let addr = match handle.listening().await {
        Some(addr) => addr,
        None => {
            let err = match task.await {
                Ok(Err(e)) => e.to_string(),
                _ => "the listener stopped".to_owned(),
            };
            anyhow::bail!(
                "cannot listen on {}: {err} (choose another with --listen)",
                state.config.listen
            );
        }
    };
    let hostname = state.appliance.hostname().await?;
    state
        .appliance
        .identity
        .set_public_url(public_url(&state.config, addr, &hostname), addr);
    admin::listen(state.clone(), shutdown.clone()).await?;
    tokio::spawn(ops::updates::run_window(state.clone(), shutdown.clone()));
    tokio::spawn(ops::backup::run_schedule(state.clone(), shutdown.clone()));
    tokio::spawn(ops::correlation::follow(
        state.store.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(ops::siem::supervise(state.clone(), shutdown.clone()));
    let sync_worker = tokio::spawn(federation::cm::run(
        state.federation.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::info!("shutting down");
        handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    tracing::info!("listening on https://{addr}");
    Ok(Running {
        addr,
        cert_der,
        state,
        task,
        sync_worker,
    })
}
