//! The HTTP server: health check, the admin JSON API, DingTalk's callbacks and robot
//! messages, signed exports, and the micro-app's pages. Handlers are thin; errors become status codes at this edge.

mod api;
pub mod app;
mod appeals;
pub mod auth;
mod bulk;
mod error;
mod events;
mod export;
mod idempotent;
mod metrics;
mod shop;
mod writes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::badges::Badging;
use crate::domain::{Calendar, Catalogue};
use crate::export::ExportLinks;
use crate::ingress::callback::CallbackState;
use crate::ingress::robot::RobotState;
use crate::leaderboard::LeaderboardIndex;
use crate::ledger::Allowance;
use crate::runtime::Health;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub calendar: Calendar,
    pub admin_token: Option<Arc<SecretString>>,
    /// Makes the API's awards, deductions and revocations through the robot's checks.
    pub bot: Option<Arc<crate::bot::Bot>>,
    /// Each API caller's requests a minute; `None` is no limit.
    pub api_limit: Option<Arc<auth::ApiLimiter>>,
    /// Signs and checks export links; `None` without an app secret.
    pub export: Option<ExportLinks>,
    pub leaderboard: Arc<LeaderboardIndex>,
    /// The workers' state, for the health check.
    pub health: Health,
    /// The micro-app's login and sessions; `None` without the app's key and secret.
    pub micro_app: Option<Arc<app::MicroApp>>,
    /// What balance points buy.
    pub catalogue: Arc<Catalogue>,
    /// Who may take HR's steps through the API (`roles.hr_admins`).
    pub hr_admins: Arc<[String]>,
    /// Days after an entry within which its person may appeal it.
    pub appeal_window_days: i64,
    /// Badges, levels and challenges.
    pub badging: Badging,
    /// What each person may give colleagues (点赞) a month.
    pub recognition: Allowance,
}

pub fn router(
    state: AppState,
    callback: CallbackState,
    robot: RobotState,
    max_body_bytes: usize,
) -> Router {
    let dingtalk = Router::new()
        .route(
            "/dingtalk/callback",
            post(crate::ingress::callback::receive),
        )
        .with_state(callback);
    let robot = Router::new()
        .route("/dingtalk/robot", post(crate::ingress::robot::receive))
        .with_state(robot);
    let api = Router::new()
        .route("/balances", get(bulk::balances))
        .route("/employees", get(bulk::employees))
        .route("/entries", get(bulk::period_entries))
        .route("/employees/{userid}/account", get(api::account))
        .route("/employees/{userid}/entries", get(api::entries))
        .route("/audit", get(api::audit))
        .route("/leaderboard", get(api::leaderboard))
        .route("/rewards", get(shop::rewards))
        .route("/redemptions", get(shop::redemptions).post(shop::redeem))
        .route("/redemptions/{id}/{step}", post(shop::step))
        .route("/appeals", get(appeals::appeals).post(appeals::file))
        .route("/appeals/{id}/{decision}", post(appeals::decide))
        .route("/recognition/pairs", get(appeals::recognition_pairs))
        .route("/employees/{userid}/badges", get(appeals::milestones))
        .route("/events", post(events::post))
        .route("/awards", post(writes::award))
        .route("/deductions", post(writes::deduct))
        .route("/entries/{id}/revoke", post(writes::revoke))
        .fallback(api::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorise,
        ));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorise,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(metrics)
        .route("/export/{file}", get(export::download))
        .merge(app::routes())
        .nest("/api/v1", api)
        .merge(dingtalk)
        .merge(robot)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// 200 when the database answers and every worker runs; 503 naming what is down.
async fn healthz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let database = state.store.backend();
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "health check: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "database": database })),
        );
    }
    let down = state.health.down();
    if !down.is_empty() {
        let down: serde_json::Map<String, serde_json::Value> = down
            .into_iter()
            .map(|(name, error)| (name.to_string(), json!(error)))
            .collect();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "degraded", "database": database, "down": down })),
        );
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "status": "ok", "database": database })),
    )
}

/// The span of one request. Its URI is logged with the values of credential-bearing query
/// parameters hidden: an export link's signature works without a login.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %redacted(request.uri()),
        version = ?request.version(),
    )
}

/// Query parameters whose values are credentials or signatures.
const SECRET_PARAMS: &[&str] = &[
    "signature",
    "msg_signature",
    "sign",
    "session",
    "access_token",
    "code",
    "token",
];

/// `uri` with the values of [`SECRET_PARAMS`] replaced by `***`.
fn redacted(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn credentials_in_query_strings_are_hidden_from_logs() {
        let cases = [
            (
                "/export/2026-10.csv?expires=1790000000&signature=abc123",
                "/export/2026-10.csv?expires=1790000000&signature=***",
            ),
            (
                "/dingtalk/callback?msg_signature=x&timestamp=1&nonce=n&Signature=y",
                "/dingtalk/callback?msg_signature=***&timestamp=1&nonce=n&Signature=***",
            ),
            (
                "/api/v1/leaderboard?window=week",
                "/api/v1/leaderboard?window=week",
            ),
            ("/healthz", "/healthz"),
        ];
        for (uri, want) in cases {
            assert_eq!(redacted(&uri.parse().unwrap()), want, "{uri}");
        }
    }
}
