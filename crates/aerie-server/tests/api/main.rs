//! The JSON API over real HTTPS against a real daemon and SQLite file.

#[path = "../common/mod.rs"]
mod common;

use aerie_client::ClientError;
use aerie_domain::user::{Role, Username};
use aerie_proto::{ErrorBody, incidents::IncidentListParams};
use common::{batch, event, start};
use reqwest::{StatusCode, header};

mod access;
mod connections;
mod disk;
mod incidents;
mod input;

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> (StatusCode, ErrorBody) {
    match result {
        Err(ClientError::Api { status, body }) => (status, body),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// One severity of each risk: benign, low, medium, high, critical.
const SEVERITIES: [f64; 5] = [0.0, 0.1, 0.3, 0.6, 0.9];
