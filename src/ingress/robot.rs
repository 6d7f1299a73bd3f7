//! `POST /dingtalk/robot` (PROTOCOL.md §d): DingTalk posts what people send the robot. The
//! `timestamp` and `sign` headers are checked, the message is stored in the inbox keyed by
//! its msgId (a redelivery changes nothing), and acknowledged. The processor hands it to
//! the bot, whose answer goes out through the outbox.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::InboxWriter;
use super::inbox_writer::InboxError;
use crate::dingtalk::robot::ROBOT_MESSAGE;
use crate::dingtalk::robot::RobotMessage;
use crate::dingtalk::robot::sign::{SignError, verify};
use crate::store::NewInboxRow;

#[derive(Clone)]
pub struct RobotState {
    /// The robot's AppSecret (the app secret), which signs every message; `None` until the
    /// app's credentials are configured (answers need the OpenAPI too), and every message
    /// gets 503.
    pub secret: Option<Arc<SecretString>>,
    pub inbox: InboxWriter,
    /// When set, a message must name this robot (`robotCode`).
    pub robot_code: Option<String>,
    /// When set, a message must come from this organisation's robot (`chatbotCorpId`).
    pub corp_id: Option<String>,
    /// How far the signed timestamp may be from our clock.
    pub window_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RobotError {
    #[error(
        "the robot is not configured: set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET"
    )]
    NotConfigured,
    #[error("{0}")]
    Sign(#[from] SignError),
    #[error("the body is not a robot message: {0}")]
    BadBody(String),
    #[error("the message is for robot {0:?}, not this one")]
    OtherRobot(String),
    #[error("the message is from organisation {0:?}, not this one")]
    OtherCorp(String),
    #[error("{0}")]
    Inbox(#[from] InboxError),
}

impl IntoResponse for RobotError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            RobotError::NotConfigured => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            RobotError::Sign(SignError::Mismatch) => (StatusCode::UNAUTHORIZED, "bad_signature"),
            RobotError::Sign(_) => (StatusCode::UNAUTHORIZED, "bad_timestamp"),
            RobotError::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_body"),
            RobotError::OtherRobot(_) => (StatusCode::FORBIDDEN, "other_robot"),
            RobotError::OtherCorp(_) => (StatusCode::FORBIDDEN, "other_corp"),
            RobotError::Inbox(InboxError::Refused) => (StatusCode::BAD_REQUEST, "unstorable"),
            RobotError::Inbox(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        // Says what was wrong; never the secret or what was typed.
        tracing::warn!(status = status.as_u16(), reason = %self, "robot message refused");
        crate::metrics::arrived("robot", "refused", code);
        (
            status,
            Json(json!({ "error": { "code": code, "message": self.to_string() } })),
        )
            .into_response()
    }
}

pub async fn receive(
    State(state): State<RobotState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RobotError> {
    let Some(secret) = &state.secret else {
        return Err(RobotError::NotConfigured);
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = Timestamp::now();
    verify(
        secret.expose_secret(),
        header("timestamp"),
        header("sign"),
        now.as_millisecond(),
        state.window_ms,
    )?;
    let row = robot_row(
        &body,
        state.robot_code.as_deref(),
        state.corp_id.as_deref(),
        now,
    )?;
    state.inbox.store(vec![row]).await?;
    crate::metrics::arrived("robot", "stored", "");
    // An empty 200: the answer goes through the outbox, not in this response.
    Ok(StatusCode::OK.into_response())
}

/// A robot message (by HTTP or Stream) as its inbox row, keyed by its msgId, once it is
/// shown to name this robot and this organisation where those are configured.
pub fn robot_row(
    body: &[u8],
    robot_code: Option<&str>,
    corp_id: Option<&str>,
    now: Timestamp,
) -> Result<NewInboxRow, RobotError> {
    let message: RobotMessage =
        serde_json::from_slice(body).map_err(|e| RobotError::BadBody(e.to_string()))?;
    if message.msg_id.trim().is_empty() {
        return Err(RobotError::BadBody("msgId is empty".into()));
    }
    // The sign covers only the timestamp, so a captured one signs any body for a while: what
    // the body says about whose message it is must be ours too.
    let shown = |v: Option<&String>| v.map_or("(none)".into(), |v| v.chars().take(64).collect());
    if let Some(ours) = robot_code
        && message.robot_code.as_deref() != Some(ours)
    {
        return Err(RobotError::OtherRobot(shown(message.robot_code.as_ref())));
    }
    if let Some(ours) = corp_id
        && message.chatbot_corp_id.as_deref() != Some(ours)
    {
        return Err(RobotError::OtherCorp(shown(
            message.chatbot_corp_id.as_ref(),
        )));
    }
    Ok(NewInboxRow {
        dedup_key: format!("robot:{}", message.msg_id),
        source: "robot".into(),
        event_type: ROBOT_MESSAGE.into(),
        payload: String::from_utf8_lossy(body).into_owned(),
        ignored: None,
        received_at: now,
    })
}
