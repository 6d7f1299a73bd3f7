//! API errors and their HTTP status: the one place where failures become status codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::leaderboard::{LeaderboardError, WindowError};
use crate::ledger::LedgerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request is understood but the state does not allow it (out of stock, decided).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// Understood and allowed, but refused by the same checks the robot makes.
    #[error("{0}")]
    Refused(String),
    #[error("more than {per_minute} requests a minute from this key; retry after {retry_after} s")]
    TooManyRequests { per_minute: u32, retry_after: u64 },
    #[error("database error")]
    Store(#[from] StoreError),
}

impl From<LeaderboardError> for ApiError {
    fn from(e: LeaderboardError) -> Self {
        match e {
            LeaderboardError::Window(_) | LeaderboardError::Calendar(_) => {
                ApiError::BadRequest(e.to_string())
            }
            LeaderboardError::UnknownDepartment(_) | LeaderboardError::UnknownPerson(_) => {
                ApiError::NotFound(e.to_string())
            }
            LeaderboardError::Evicted(_) => ApiError::Unavailable(e.to_string()),
            LeaderboardError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Store(e) => ApiError::Store(e),
            LedgerError::UnknownEmployee(_)
            | LedgerError::UnknownEntry(_)
            | LedgerError::UnknownRedemption(_)
            | LedgerError::UnknownAppeal(_) => ApiError::NotFound(e.to_string()),
            LedgerError::OwnPoints { .. } | LedgerError::NotTheirs { .. } => {
                ApiError::Forbidden(e.to_string())
            }
            LedgerError::AlreadyReversed { .. }
            | LedgerError::NotReversible { .. }
            | LedgerError::NotPending { .. }
            | LedgerError::NotRedeemable { .. }
            | LedgerError::StepNotOpen { .. }
            | LedgerError::NotAppealable { .. }
            | LedgerError::AppealDecided { .. }
            | LedgerError::NotRecognised { .. } => ApiError::Conflict(e.to_string()),
            LedgerError::RuleFailed { .. } | LedgerError::Invalid(_) | LedgerError::Calendar(_) => {
                ApiError::BadRequest(e.to_string())
            }
        }
    }
}

impl From<WindowError> for ApiError {
    fn from(e: WindowError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl ApiError {
    /// The HTTP status, and the code the JSON body names it by.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The JSON body every error answers with.
    pub fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        json!({ "error": { "code": code, "message": self.to_string() } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, "request failed on the database");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
