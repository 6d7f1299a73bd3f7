//! Bearer-token check for the admin API, compared in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::Unauthorized(
            "the admin API is off: set JIFEN_ADMIN_TOKEN to enable it",
        ));
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized(
            "missing bearer token: send Authorization: Bearer <JIFEN_ADMIN_TOKEN>",
        ))?;
    if bool::from(
        presented
            .trim()
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Unauthorized("wrong bearer token"))
    }
}
