//! `POST /dingtalk/callback` (PROTOCOL.md §a): verify the signature and the timestamp,
//! decrypt, store the events in the inbox, and answer with the encrypted `success` that
//! DingTalk requires, only after the events are durable.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::InboxWriter;
use super::inbox_writer::InboxError;
use crate::dingtalk::crypto::{CallbackCrypto, CryptoError};
use crate::dingtalk::events::{EventError, Message, parse_message};
use crate::store::NewInboxRow;

/// The key sets that may sign a callback: the current one first, then the one being retired.
pub struct CallbackKeys {
    pub sets: Vec<CallbackCrypto>,
    /// How far a callback's timestamp may be from our clock, in milliseconds.
    pub window_ms: i64,
}

#[derive(Clone)]
pub struct CallbackState {
    pub keys: Option<Arc<CallbackKeys>>,
    pub inbox: InboxWriter,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "DingTalk callbacks are not configured: set JIFEN_DINGTALK_CALLBACK_TOKEN, JIFEN_DINGTALK_AES_KEY and JIFEN_DINGTALK_RECEIVE_ID"
    )]
    NotConfigured,
    #[error("missing query parameter {0}")]
    MissingParameter(&'static str),
    #[error("timestamp {0:?} is not a number of milliseconds")]
    BadTimestamp(String),
    #[error("timestamp is {0} s away from this server's clock, outside the allowed window")]
    StaleTimestamp(i64),
    #[error("the body must be JSON like {{\"encrypt\": \"…\"}}: {0}")]
    BadBody(String),
    #[error("the body is larger than server.max_body_bytes")]
    TooLarge,
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("{0}")]
    Inbox(#[from] InboxError),
}

impl IntoResponse for CallbackError {
    fn into_response(self) -> Response {
        let status = match &self {
            CallbackError::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            CallbackError::Crypto(CryptoError::SignatureMismatch) => StatusCode::UNAUTHORIZED,
            CallbackError::Inbox(InboxError::Refused) => StatusCode::BAD_REQUEST,
            CallbackError::Inbox(_) => StatusCode::SERVICE_UNAVAILABLE,
            CallbackError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        // Says what was wrong; never the plaintext, the keys or the token.
        tracing::warn!(status = status.as_u16(), reason = %self, "callback refused");
        crate::metrics::arrived("http", "refused", code(&self));
        (
            status,
            Json(json!({ "error": { "code": code(&self), "message": self.to_string() } })),
        )
            .into_response()
    }
}

fn code(e: &CallbackError) -> &'static str {
    match e {
        CallbackError::NotConfigured => "not_configured",
        CallbackError::MissingParameter(_) => "missing_parameter",
        CallbackError::BadTimestamp(_) | CallbackError::StaleTimestamp(_) => "bad_timestamp",
        CallbackError::BadBody(_) => "bad_body",
        CallbackError::TooLarge => "too_large",
        CallbackError::Crypto(CryptoError::SignatureMismatch) => "bad_signature",
        CallbackError::Crypto(_) => "bad_ciphertext",
        CallbackError::Event(_) => "bad_event",
        CallbackError::Inbox(InboxError::Refused) => "unstorable",
        CallbackError::Inbox(_) => "unavailable",
    }
}

#[derive(Deserialize)]
pub struct Body {
    encrypt: String,
}

pub async fn receive(
    State(state): State<CallbackState>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Json<Body>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, CallbackError> {
    let keys = state.keys.as_ref().ok_or(CallbackError::NotConfigured)?;
    let param =
        |names: &[&'static str]| names.iter().find_map(|n| query.get(*n).map(String::as_str));
    let signature = param(&["msg_signature", "signature"])
        .ok_or(CallbackError::MissingParameter("msg_signature"))?;
    let timestamp =
        param(&["timestamp", "timeStamp"]).ok_or(CallbackError::MissingParameter("timestamp"))?;
    let nonce = param(&["nonce"]).ok_or(CallbackError::MissingParameter("nonce"))?;
    let now = Timestamp::now();
    // Outsiders choose this value: echo at most a little of it, and never overflow on it.
    let sent_ms: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| CallbackError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    let skew_ms = now.as_millisecond().saturating_sub(sent_ms);
    if skew_ms.unsigned_abs() > keys.window_ms.unsigned_abs() {
        return Err(CallbackError::StaleTimestamp(skew_ms / 1000));
    }
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            CallbackError::TooLarge
        } else {
            CallbackError::BadBody(e.body_text())
        }
    })?;

    // The first key set whose signature matches decrypts; the old set serves during rotation.
    let (crypto, plaintext) = keys
        .sets
        .iter()
        .find_map(
            |set| match set.verify_and_decrypt(signature, timestamp, nonce, &body.encrypt) {
                Err(CryptoError::SignatureMismatch) => None,
                other => Some((set, other)),
            },
        )
        .ok_or(CryptoError::SignatureMismatch)?;
    let plaintext = plaintext?;

    if let Message::Events(events) = parse_message(&plaintext)? {
        let count = events.len();
        let rows: Vec<NewInboxRow> = events
            .into_iter()
            .map(|e| NewInboxRow {
                dedup_key: e.dedup_key,
                source: "http".into(),
                event_type: e.event_type,
                payload: e.payload,
                ignored: e.ignored,
                received_at: now,
            })
            .collect();
        state.inbox.store(rows).await?;
        tracing::debug!(events = count, "callback stored");
        crate::metrics::arrived("http", "stored", "");
    }
    let reply = crypto.reply("success", &now.as_millisecond().to_string(), nonce);
    Ok(Json(reply).into_response())
}
