//! The HTTP server: health check and the admin JSON API. Handlers are thin; errors become
//! status codes here and nowhere else.

mod api;
mod auth;
mod error;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::domain::Calendar;
use crate::ingress::callback::CallbackState;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub calendar: Calendar,
    pub admin_token: Option<Arc<SecretString>>,
}

pub fn router(state: AppState, callback: CallbackState, max_body_bytes: usize) -> Router {
    let dingtalk = Router::new()
        .route(
            "/dingtalk/callback",
            post(crate::ingress::callback::receive),
        )
        .with_state(callback);
    let api = Router::new()
        .route("/employees/{userid}/account", get(api::account))
        .route("/employees/{userid}/entries", get(api::entries))
        .fallback(api::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .merge(dingtalk)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// 200 when the database answers, 503 when it does not.
async fn healthz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "ok", "database": state.store.backend() })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "database": state.store.backend() })),
            )
        }
    }
}
