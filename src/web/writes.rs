//! Points from other systems: `POST /api/v1/awards`, `/deductions` and
//! `/entries/{id}/revoke`. Each is made in the name of a person (`actor`), through the
//! robot's own checks (`Bot::act`: their departments, their budget, review of large
//! amounts, never their own points), and is idempotent under its `Idempotency-Key`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, body::Bytes};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::idempotent::once;
use super::{ApiError, AppState};
use crate::bot::command::{Change, MAX_POINTS};
use crate::bot::{Acted, Bot};
use crate::domain::Lang;
use crate::ledger::Entry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustRequest {
    /// Who gets (or loses) the points.
    userid: String,
    /// How many, 1 to 100,000; a deduction takes them away.
    points: i64,
    reason: String,
    /// In whose name: their role decides what they may do, as in the robot.
    actor: String,
    /// `zh` (default) or `en`, for the message in the answer.
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: String,
    actor: String,
    #[serde(default)]
    lang: Option<String>,
}

pub async fn award(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    adjust(&state, &caller, &headers, &body, 1, "POST /api/v1/awards").await
}

pub async fn deduct(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    adjust(
        &state,
        &caller,
        &headers,
        &body,
        -1,
        "POST /api/v1/deductions",
    )
    .await
}

async fn adjust(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    sign: i64,
    request: &str,
) -> Result<Response, ApiError> {
    once(state, caller, headers, request, body, |source| async move {
        let asked: AdjustRequest = json_body(body)?;
        if !(1..=MAX_POINTS).contains(&asked.points) {
            return Err(ApiError::BadRequest(format!(
                "points must be 1 to {MAX_POINTS}, found {}; a deduction is posted to /deductions with a positive number",
                asked.points
            )));
        }
        let userid = required("userid", &asked.userid)?;
        let change = Change::Adjust {
            who: userid.to_string(),
            points: sign * asked.points,
            reason: required("reason", &asked.reason)?.to_string(),
        };
        let lang = lang(asked.lang.as_deref())?;
        let message = act(state, &asked.actor, change, &source, lang).await?;
        let entry = made_entry(state, userid, |e| e.source_key == source).await?;
        Ok((
            StatusCode::CREATED,
            json!({ "status": "done", "message": message, "entry": entry }),
        ))
    })
    .await
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = format!("POST /api/v1/entries/{id}/revoke");
    let (state, body) = (&state, &body[..]);
    once(
        state,
        &caller,
        &headers,
        &request,
        body,
        |source| async move {
            let asked: RevokeRequest = json_body(body)?;
            let Some(entry) = state.store.entry(id).await? else {
                return Err(ApiError::NotFound(format!("no entry #{id}")));
            };
            let change = Change::Revoke {
                entry: id,
                reason: required("reason", &asked.reason)?.to_string(),
            };
            let lang = lang(asked.lang.as_deref())?;
            let message = act(state, &asked.actor, change, &source, lang).await?;
            let reversal = made_entry(state, &entry.userid, |e| e.reverses == Some(id)).await?;
            Ok((
                StatusCode::CREATED,
                json!({ "status": "done", "message": message, "entry": reversal }),
            ))
        },
    )
    .await
}

/// Makes the change as `actor` through the robot's checks; a refusal is 422 with the
/// robot's reason.
async fn act(
    state: &AppState,
    actor: &str,
    change: Change,
    source: &str,
    lang: Lang,
) -> Result<String, ApiError> {
    let bot: &Bot = state.bot.as_deref().ok_or_else(|| {
        ApiError::Unavailable("this server was started without the robot's settings".into())
    })?;
    let actor = required("actor", actor)?;
    match bot
        .act(actor, change, source, lang, Timestamp::now())
        .await
        .map_err(|e| ApiError::Unavailable(format!("the change could not be made: {e}")))?
    {
        Acted::Done(message) => Ok(message),
        Acted::Refused(message) => Err(ApiError::Refused(message)),
    }
}

/// The entry the change made, among the person's latest.
async fn made_entry(
    state: &AppState,
    userid: &str,
    made: impl Fn(&Entry) -> bool,
) -> Result<Value, ApiError> {
    let latest = state.store.entries(userid, 20, None).await?;
    Ok(latest
        .iter()
        .find(|e| made(e))
        .map(|e| json!(e))
        .unwrap_or(Value::Null))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the JSON this takes: {e}")))
}

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::BadRequest(format!("{field} must not be empty")));
    }
    Ok(value)
}

fn lang(asked: Option<&str>) -> Result<Lang, ApiError> {
    match asked.map(str::trim) {
        None | Some("zh") => Ok(Lang::Zh),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(ApiError::BadRequest(format!(
            "lang must be zh or en, found {other:?}"
        ))),
    }
}
