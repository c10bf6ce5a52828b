//! Investigation and mitigation over real HTTPS: artifacts checked by real decoders, IVP
//! scripts run by a real shell, feeds fetched like a firewall would, the whitelist, users,
//! the audit chain (tampered with in the real SQLite file) — on a CM, and from an MCM.

#[path = "../common/mod.rs"]
mod common;

use aerie_client::{Client, ClientError, artifacts};
use aerie_proto::{
    ErrorBody,
    events::{BehaviourJson, EventIn, FileJson},
    incidents::{IncidentDetail, IncidentOut, StatusChangeOut},
    investigation::{
        ArtifactOut, AuditList, AuditVerification, FeedCredential, MitigationOut, UserOut,
        WhitelistResult,
    },
};
use common::{TestServer, batch, cm_id_of, convert, event, eventually, node, register, start};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

mod accounts;
mod blocking;
mod evidence;
mod from_mcm;
mod paging;

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> (StatusCode, ErrorBody) {
    match result {
        Err(ClientError::Api { status, body }) => (status, body),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Ingests one event; returns its incident's id.
async fn ingest(client: &Client, e: EventIn) -> i64 {
    client
        .post_events(&batch(vec![e]))
        .await
        .unwrap()
        .placements[0]
        .incident_id
}

async fn detail(client: &Client, path: &str) -> IncidentDetail {
    client.get(path).await.unwrap()
}

/// A user with `role`, logged in.
async fn user(s: &TestServer, name: &str, role: &str) -> Client {
    let _: UserOut = s
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": name, "password": "passw0rd-long", "role": role}),
        )
        .await
        .unwrap();
    s.anon.login(name, "passw0rd-long").await.unwrap().0
}

async fn feed(s: &TestServer, credential: &str, name: &str) -> (StatusCode, String) {
    let resp = s
        .anon
        .http()
        .get(s.url(&format!("/feeds/{name}")))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}
