//! Who is calling the API, and whether they may: a bearer API key (`jifen keys create`) with
//! the scope the request needs, or the admin token, which may do everything. Secrets are
//! compared in constant time; each caller has its own rate limit, answered with 429.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::domain::api_key::{Scope, Scopes, presented, secret_digest};

/// Who made a request, as handlers see it: the key's name (the admin token's is
/// [`ADMIN_TOKEN_NAME`]) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scopes: Scopes,
}

/// The name the admin token goes by, in rate limits and idempotency records.
pub const ADMIN_TOKEN_NAME: &str = "admin-token";

/// The scope a request needs: reads need `read`; awards, deductions and revocations
/// `awards:write`; events `events:write`; every other write (HR's decisions) `admin`.
pub fn needed_scope(method: &Method, path: &str) -> Scope {
    if method == Method::GET || method == Method::HEAD {
        return Scope::Read;
    }
    let path = path.trim_end_matches('/');
    let tail = path.strip_prefix("/api/v1").unwrap_or(path);
    match tail {
        "/awards" | "/deductions" => Scope::AwardsWrite,
        "/events" => Scope::EventsWrite,
        _ if tail.starts_with("/entries/") && tail.ends_with("/revoke") => Scope::AwardsWrite,
        _ => Scope::Admin,
    }
}

/// Requests a minute per caller.
pub struct ApiLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    per_minute: u32,
}

impl ApiLimiter {
    /// `None` for no limit (0).
    pub fn per_minute(n: u32) -> Option<Arc<ApiLimiter>> {
        let n = NonZeroU32::new(n)?;
        Some(Arc::new(ApiLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            per_minute: n.get(),
        }))
    }

    /// How long the caller must wait, if they are over their limit.
    fn check(&self, name: &str) -> Option<Duration> {
        self.limiter
            .check_key(&name.to_string())
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

pub async fn authorise(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let needed = needed_scope(request.method(), request.uri().path());
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "missing bearer token: send Authorization: Bearer <API key or JIFEN_ADMIN_TOKEN>",
        ))?;
    let caller = identify(&state, bearer).await?;
    if !caller.scopes.allows(needed) {
        return Err(ApiError::Forbidden(format!(
            "API key {:?} lacks the scope {} this request needs",
            caller.name,
            needed.as_str()
        )));
    }
    if let Some(limiter) = &state.api_limit
        && let Some(wait) = limiter.check(&caller.name)
    {
        return Err(ApiError::TooManyRequests {
            per_minute: limiter.per_minute,
            retry_after: wait.as_secs().max(1),
        });
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller a bearer token names: one of our API keys, live, with the right secret; or
/// the admin token.
async fn identify(state: &AppState, bearer: &str) -> Result<Caller, ApiError> {
    if let Some(key) = presented(bearer) {
        let stored = state.store.key_by_prefix(key.prefix).await?;
        let Some(stored) = stored else {
            return Err(ApiError::Unauthorized("unknown API key"));
        };
        let proved = bool::from(
            secret_digest(key.secret)
                .as_bytes()
                .ct_eq(stored.secret_sha256.as_bytes()),
        );
        if !proved {
            return Err(ApiError::Unauthorized("unknown API key"));
        }
        if stored.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("this API key was revoked"));
        }
        return Ok(Caller {
            name: stored.name,
            scopes: stored.scopes,
        });
    }
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::Unauthorized(
            "not an API key, and the admin token is off: create a key with `jifen keys create`, or set JIFEN_ADMIN_TOKEN",
        ));
    };
    if bool::from(bearer.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        Ok(Caller {
            name: ADMIN_TOKEN_NAME.into(),
            scopes: Scopes(vec![Scope::Admin]),
        })
    } else {
        Err(ApiError::Unauthorized("wrong bearer token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_needs_the_scope_of_what_it_does() {
        let cases = [
            (Method::GET, "/api/v1/employees/u1/entries", Scope::Read),
            (Method::GET, "/metrics", Scope::Read),
            (Method::POST, "/api/v1/awards", Scope::AwardsWrite),
            (Method::POST, "/api/v1/deductions/", Scope::AwardsWrite),
            (
                Method::POST,
                "/api/v1/entries/17/revoke",
                Scope::AwardsWrite,
            ),
            (Method::POST, "/api/v1/events", Scope::EventsWrite),
            (Method::POST, "/api/v1/redemptions/3/approve", Scope::Admin),
            (Method::POST, "/api/v1/appeals", Scope::Admin),
            (Method::DELETE, "/api/v1/awards/1", Scope::Admin),
        ];
        for (method, path, scope) in cases {
            assert_eq!(needed_scope(&method, path), scope, "{method} {path}");
        }
    }

    #[test]
    fn a_caller_over_their_limit_waits_and_others_do_not() {
        let limiter = ApiLimiter::per_minute(2).unwrap();
        assert_eq!(limiter.check("mes"), None);
        assert_eq!(limiter.check("mes"), None);
        let wait = limiter
            .check("mes")
            .expect("the third within a minute waits");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(limiter.check("lms"), None, "each caller has their own");
        assert!(ApiLimiter::per_minute(0).is_none(), "0 is no limit");
    }
}
