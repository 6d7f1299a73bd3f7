//! Writes other systems may retry safely: each takes an `Idempotency-Key`, and the first
//! answer under it (per API key) is kept, so a retry of the same request gets that answer
//! again and writes nothing. The key also names the write in the ledger (`api:<key>:<…>`),
//! so a retry after a crash between the write and keeping its answer still writes once.

use std::future::Future;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::store::StoredAnswer;

const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The header a replayed answer carries.
pub const REPLAYED: &str = "idempotent-replayed";

/// The request's `Idempotency-Key`, which every write needs.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            ApiError::BadRequest(
                "an Idempotency-Key header is required: any unique text (e.g. a UUID); \
                 a retry with the same key writes nothing more"
                    .into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::BadRequest("the Idempotency-Key must be plain ASCII".into()))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::BadRequest(format!(
            "the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    Ok(key.to_string())
}

/// Runs `write` once per (caller, Idempotency-Key): it gets the write's source key, and
/// its answer, or its refusal, is kept and given again to a retry of the same request. A
/// different request under a used key is refused. Database failures are not kept: a
/// retry tries again.
pub async fn once<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &str,
    body: &[u8],
    write: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let key = idempotency_key(headers)?;
    let digest = request_digest(request, body);
    if let Some(first) = state.store.stored_answer(&caller.name, &key).await? {
        if first.request_sha256 != digest {
            return Err(ApiError::Conflict(format!(
                "the Idempotency-Key {key:?} was used for a different request; use a new key for a new request"
            )));
        }
        return Ok(replay(&first));
    }
    let source = format!("api:{}:{key}", caller.name);
    let (status, answer) = match write(source).await {
        Ok(answered) => answered,
        Err(e @ (ApiError::Store(_) | ApiError::Unavailable(_))) => return Err(e),
        Err(e) => (e.status(), e.body()),
    };
    let stored = StoredAnswer {
        request_sha256: digest,
        status: status.as_u16(),
        body: answer.to_string(),
    };
    state
        .store
        .store_answer(&caller.name, &key, &stored, Timestamp::now())
        .await?;
    Ok((status, Json(answer)).into_response())
}

fn request_digest(request: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(request.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn replay(first: &StoredAnswer) -> Response {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        first.body.clone(),
    )
        .into_response();
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
