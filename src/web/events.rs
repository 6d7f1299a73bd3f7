//! `POST /api/v1/events`: what other systems report (a training completed, a safety
//! inspection passed), matched by the rules like DingTalk's events. Its type must be an
//! `[[event_type]]` of the rules file and its data must fit that type's fields; it is posted
//! at once, with its notifications and badges, and is idempotent under its key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, body::Bytes};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::idempotent::once;
use super::{ApiError, AppState};
use crate::domain::DomainEvent;
use crate::outbox;

/// How far ahead of this server's clock an event may say it happened.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedEvent {
    #[serde(rename = "type")]
    kind: String,
    userid: String,
    /// When it happened; now when absent.
    #[serde(default)]
    occurred_at: Option<Timestamp>,
    #[serde(default)]
    data: Map<String, Value>,
}

pub async fn post(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (state, body) = (&state, &body[..]);
    once(
        state,
        &caller,
        &headers,
        "POST /api/v1/events",
        body,
        |source| async move {
            let posted: PostedEvent = serde_json::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!("the body is not the JSON of an event: {e}"))
            })?;
            let bot = state.bot.as_deref().ok_or_else(|| {
                ApiError::Unavailable("this server was started without its rules".into())
            })?;
            let Some(declared) = bot.rules.event_type(&posted.kind) else {
                let known: Vec<&str> = bot
                    .rules
                    .event_types
                    .iter()
                    .map(|t| t.kind.as_str())
                    .collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown event type {:?}; the rules file declares {}",
                    posted.kind,
                    if known.is_empty() {
                        "none (add an [[event_type]] to rules.toml)".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let wrong = declared.check(&posted.data);
            if !wrong.is_empty() {
                let said: Vec<String> = wrong.iter().map(ToString::to_string).collect();
                return Err(ApiError::BadRequest(said.join("; ")));
            }
            let userid = posted.userid.trim();
            if userid.is_empty() {
                return Err(ApiError::BadRequest("userid must not be empty".into()));
            }
            let now = Timestamp::now();
            let occurred_at = posted.occurred_at.unwrap_or(now);
            if occurred_at > now + CLOCK_SKEW {
                return Err(ApiError::BadRequest(format!(
                    "occurred_at {occurred_at} is in the future"
                )));
            }
            let event = DomainEvent {
                kind: posted.kind.clone(),
                source_key: source,
                userid: userid.to_string(),
                occurred_at,
                departments: vec![],
                data: posted.data,
            };
            let mut tx = state.store.begin().await?;
            let posting = outbox::post_and_tell(
                tx.as_mut(),
                &bot.rules,
                &bot.badging,
                &bot.calendar,
                &event,
                now,
            )
            .await
            .map_err(|e| match e {
                outbox::PostError::Ledger(e) => ApiError::from(e),
                outbox::PostError::Store(e) => ApiError::Store(e),
                outbox::PostError::Badge(e) => {
                    ApiError::Unavailable(format!("badges could not be granted: {e}"))
                }
            })?;
            tx.commit().await?;
            bot.wake.notify_one();
            let entries: Vec<_> = posting.posted().cloned().collect();
            Ok((
                StatusCode::CREATED,
                json!({ "status": "posted", "entries": entries, "posting": posting }),
            ))
        },
    )
    .await
}
