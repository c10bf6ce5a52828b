//! `ApiJson`: a JSON body extractor whose every failure speaks our error shape and names
//! the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

use crate::error::OpError;

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = OpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, OpError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim() == "application/json")
            });
        if !is_json {
            return Err(OpError::unsupported_media(
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OpError::too_large("request body is too large: split it into smaller requests")
            } else {
                OpError::malformed("could not read the request body")
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses JSON, reporting the path of the value at fault (`events[2].severity`). The
/// path is tracked only on a second pass over a body that failed: good bodies take the
/// fast path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, OpError> {
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                return OpError::malformed(format!("malformed JSON: {inner}"));
            }
            _ => strip_position(&inner.to_string()),
        };
        if path == "." || path.is_empty() {
            OpError::malformed(message)
        } else {
            OpError::invalid(path.clone(), format!("{path}: {message}"))
        }
    })
}

/// serde_json appends " at line L column C"; on a named field that is noise.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        items: Vec<Item>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        n: f64,
    }

    #[test]
    fn names_the_field() {
        let e = parse::<Body>(br#"{"items":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert_eq!(e.field(), Some("items[1].n"));
        assert!(e.to_string().contains("invalid type"), "{}", e.to_string());
        let e = parse::<Body>(br#"{"items":[],"extra":1}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `extra`"),
            "{}",
            e.to_string()
        );
        let e = parse::<Body>(b"{\"items\":[").unwrap_err();
        assert!(
            e.to_string().starts_with("malformed JSON"),
            "{}",
            e.to_string()
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
