//! DingTalk's OpenAPI client: the access token, timeouts, retries with backoff and jitter,
//! rate limits on both sides, and typed errors that carry DingTalk's own code and message.
//! `api.rs` holds the endpoints; this module holds how every call is made.

pub mod api;
pub mod cache;
pub mod token;
pub mod verdict;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;
use rand::Rng;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub use self::api::*;
use self::cache::TtlCache;
use self::token::TokenCache;
pub use self::verdict::{Failure, Retry};
use self::verdict::{Verdict, judge_newapi, judge_oapi, lenient_i64};

/// Where DingTalk is and who we are to it.
#[derive(Debug, Clone)]
pub struct OpenApiSettings {
    /// The new API, `https://api.dingtalk.com`.
    pub api_base: String,
    /// The old API, `https://oapi.dingtalk.com`.
    pub oapi_base: String,
    pub app_key: String,
    pub app_secret: SecretString,
    /// The micro-app's AgentId, needed for work notifications.
    pub agent_id: Option<i64>,
    /// The robot's code (usually the app key), needed for robot messages.
    pub robot_code: Option<String>,
    /// For each HTTP request.
    pub timeout: Duration,
    /// Tries per call, the first included.
    pub max_attempts: u32,
    /// First backoff after a timeout or server error; doubles each time up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Wait after a rate-limit answer that does not say how long.
    pub rate_limit_wait: Duration,
    /// Our own limit per API, a tenth below DingTalk's 40 QPS per app and API: a call
    /// arrives a few milliseconds after its turn, by a varying amount, so pacing at exactly
    /// 40 would put a 41st call inside DingTalk's second now and then.
    pub max_qps_per_api: u32,
    /// How long user and department look-ups are cached.
    pub directory_ttl: Duration,
    /// Origins (`https://oapi.dingtalk.com`) whose sessionWebhooks replies may go to. A
    /// robot message's body, webhook included, is not covered by its signature.
    pub session_webhook_origins: Vec<String>,
}

impl OpenApiSettings {
    /// Production defaults for an app; tests shorten the waits.
    pub fn new(app_key: String, app_secret: SecretString) -> Self {
        OpenApiSettings {
            api_base: "https://api.dingtalk.com".into(),
            oapi_base: "https://oapi.dingtalk.com".into(),
            app_key,
            app_secret,
            agent_id: None,
            robot_code: None,
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            rate_limit_wait: Duration::from_secs(1),
            max_qps_per_api: 36,
            directory_ttl: Duration::from_secs(600),
            session_webhook_origins: vec!["https://oapi.dingtalk.com".into()],
        }
    }
}

/// A failed call: which API, how often we tried, and what DingTalk said last.
#[derive(Debug, Clone, thiserror::Error)]
#[error("DingTalk {api}: {failure} (after {attempts} attempt{s})", s = if *attempts == 1 { "" } else { "s" })]
pub struct ApiError {
    pub api: &'static str,
    pub attempts: u32,
    pub failure: Failure,
}

impl ApiError {
    fn new(api: &'static str, failure: Failure) -> Self {
        ApiError {
            api,
            attempts: 0,
            failure,
        }
    }

    /// The old API's errcode, if DingTalk sent one.
    pub fn errcode(&self) -> Option<i64> {
        match &self.failure {
            Failure::Refused { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }
}

impl From<ApiError> for crate::domain::Failure {
    fn from(e: ApiError) -> crate::domain::Failure {
        use crate::domain::Failure;
        match e.failure.retry() {
            Retry::Later => Failure::Retry(e.to_string()),
            Retry::After(after) => Failure::RateLimited {
                after,
                reason: e.to_string(),
            },
            Retry::Never => Failure::Permanent(e.to_string()),
        }
    }
}

/// A call schedule shared by every process that calls DingTalk as one app (replicas on one
/// database): DingTalk counts an app's calls per API however many processes make them.
#[async_trait]
pub trait SharedPace: Send + Sync {
    /// Takes the first slot for a call to `api` at or after `now` and `interval` after the
    /// slot before it, and returns when it starts.
    async fn reserve(
        &self,
        api: &str,
        now: Timestamp,
        interval: Duration,
    ) -> Result<Timestamp, PaceError>;
}

/// The shared schedule could not be read; the client falls back to its own limit.
#[derive(Debug, thiserror::Error)]
#[error("cannot reserve a slot on the shared call schedule: {0}")]
pub struct PaceError(pub Box<dyn std::error::Error + Send + Sync>);

/// One request, before the token is added.
enum Call<'a> {
    /// oapi.dingtalk.com: `POST path?access_token=` with a JSON body.
    Oapi { path: &'static str, body: Value },
    /// api.dingtalk.com: token in the `x-acs-dingtalk-access-token` header.
    NewApi {
        method: Method,
        path: &'a str,
        query: &'a [(&'a str, &'a str)],
        body: Option<Value>,
    },
    /// A robot message's sessionWebhook: its `session` parameter is the credential.
    Session { url: &'a str, body: Value },
}

pub struct OpenApiClient {
    http: reqwest::Client,
    settings: OpenApiSettings,
    token: TokenCache,
    limiter: DefaultKeyedRateLimiter<&'static str>,
    /// When set, calls keep to this schedule instead of `limiter`.
    shared_pace: Option<Arc<dyn SharedPace>>,
    users: TtlCache<String, User>,
    sub_departments: TtlCache<i64, Vec<Department>>,
    department_members: TtlCache<i64, Vec<String>>,
}

impl OpenApiClient {
    pub fn new(settings: OpenApiSettings) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("jifen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::new("client", Failure::Transport(e.to_string())))?;
        let qps = NonZeroU32::new(settings.max_qps_per_api).unwrap_or(NonZeroU32::MIN);
        // No burst: evenly spaced calls stay under a per-second limit however it is counted.
        let limiter = RateLimiter::keyed(Quota::per_second(qps).allow_burst(NonZeroU32::MIN));
        let ttl = settings.directory_ttl;
        Ok(OpenApiClient {
            http,
            token: TokenCache::default(),
            limiter,
            shared_pace: None,
            users: TtlCache::new(ttl),
            sub_departments: TtlCache::new(ttl),
            department_members: TtlCache::new(ttl),
            settings,
        })
    }

    /// Keeps to `pace`, shared with other replicas, instead of this process's own limit.
    pub fn with_shared_pace(mut self, pace: Arc<dyn SharedPace>) -> Self {
        self.shared_pace = Some(pace);
        self
    }

    pub fn settings(&self) -> &OpenApiSettings {
        &self.settings
    }

    /// Waits for this call's turn under the per-API limit: the shared schedule's when there
    /// is one and it answers, else this process's.
    async fn pace(&self, api: &'static str) {
        if let Some(shared) = &self.shared_pace {
            let interval = Duration::from_secs(1) / self.settings.max_qps_per_api.max(1);
            let now = Timestamp::now();
            match shared.reserve(api, now, interval).await {
                Ok(slot) => {
                    let wait = slot.duration_since(Timestamp::now());
                    if let Ok(wait) = Duration::try_from(wait) {
                        tokio::time::sleep(wait).await;
                    }
                    return;
                }
                Err(e) => tracing::warn!(api, error = %e, "pacing this call on its own"),
            }
        }
        self.limiter.until_key_ready(&api).await;
    }

    /// The app's access token (new API), cached; refreshed early and after a refusal.
    async fn access_token(&self) -> Result<SecretString, ApiError> {
        self.token
            .get_or_fetch(|| async {
                let body = json!({
                    "appKey": self.settings.app_key,
                    "appSecret": self.settings.app_secret.expose_secret(),
                });
                let call = Call::NewApi {
                    method: Method::POST,
                    path: "/v1.0/oauth2/accessToken",
                    query: &[],
                    body: Some(body),
                };
                // Boxed: `run` calls back into this function for every other call.
                let value = Box::pin(self.run("oauth2/accessToken", &call, false)).await?;
                let token = value
                    .get("accessToken")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| decode("oauth2/accessToken", "no accessToken"))?;
                let lifetime = value.get("expireIn").and_then(lenient_i64).unwrap_or(7200);
                tracing::debug!(lifetime, "new DingTalk access token");
                Ok((
                    SecretString::from(token.to_string()),
                    Duration::from_secs(lifetime.max(1) as u64),
                ))
            })
            .await
    }

    /// An old-API call; its path names it in errors and logs.
    async fn oapi(&self, path: &'static str, body: Value) -> Result<Value, ApiError> {
        self.run(path, &Call::Oapi { path, body }, true).await
    }

    async fn new_api(
        &self,
        api: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let call = Call::NewApi {
            method,
            path,
            query,
            body,
        };
        self.run(api, &call, true).await
    }

    /// Makes `call` until it succeeds, retrying what the verdict says can be retried.
    async fn run(&self, api: &'static str, call: &Call<'_>, auth: bool) -> Result<Value, ApiError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(api).await;
            let token = if auth {
                Some(self.access_token().await?)
            } else {
                None
            };
            let verdict = self.send(call, token.as_ref()).await;
            let (wait, failure) = match verdict {
                Verdict::Ok(value) => {
                    crate::metrics::dingtalk_call(api, "ok".into());
                    return Ok(value);
                }
                // An expired token costs no attempt, but only one fresh token per call: a
                // second refusal is not about expiry.
                Verdict::RefreshToken(failure) if auth && !refreshed => {
                    refreshed = true;
                    if let Some(stale) = &token {
                        self.token.forget(stale).await;
                    }
                    tracing::debug!(api, error = %failure, "token refused; fetching a new one");
                    attempt -= 1;
                    continue;
                }
                Verdict::Backoff(failure) => (self.backoff(attempt), failure),
                Verdict::RateLimited(after, failure) => (
                    after.unwrap_or(self.settings.rate_limit_wait)
                        + jitter(self.settings.rate_limit_wait / 4),
                    failure,
                ),
                Verdict::RefreshToken(failure) | Verdict::GiveUp(failure) => {
                    crate::metrics::dingtalk_call(api, failure.code());
                    return Err(ApiError {
                        api,
                        attempts: attempt,
                        failure,
                    });
                }
            };
            if attempt >= self.settings.max_attempts {
                crate::metrics::dingtalk_call(api, failure.code());
                return Err(ApiError {
                    api,
                    attempts: attempt,
                    failure,
                });
            }
            tracing::warn!(api, attempt, error = %failure, wait_ms = wait.as_millis() as u64, "DingTalk call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP exchange and its verdict. Errors never include the URL: it may carry the token.
    async fn send(&self, call: &Call<'_>, token: Option<&SecretString>) -> Verdict {
        let request = match call {
            Call::Oapi { path, body } => {
                let url = format!("{}{path}", self.settings.oapi_base);
                let mut request = self.http.post(url).json(body);
                if let Some(token) = token {
                    request = request.query(&[("access_token", token.expose_secret())]);
                }
                request
            }
            Call::NewApi {
                method,
                path,
                query,
                body,
            } => {
                let url = format!("{}{path}", self.settings.api_base);
                // Without it the gateway answers in XML (PROTOCOL.md §c).
                let mut request = self
                    .http
                    .request(method.clone(), url)
                    .query(query)
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(token) = token {
                    request = request.header("x-acs-dingtalk-access-token", token.expose_secret());
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            }
            Call::Session { url, body } => self.http.post(*url).json(body),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Verdict::Backoff(Failure::Timeout),
            Err(e) => return Verdict::Backoff(Failure::Transport(e.without_url().to_string())),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Verdict::Backoff(Failure::Timeout),
            Err(e) => return Verdict::Backoff(Failure::Transport(e.without_url().to_string())),
        };
        match call {
            Call::Oapi { .. } | Call::Session { .. } => judge_oapi(status, &body),
            Call::NewApi { .. } => judge_newapi(status, retry_after, &body),
        }
    }

    /// Exponential, with jitter so that many callers failing together do not retry together.
    fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        let full = self
            .settings
            .backoff_base
            .saturating_mul(1 << doublings)
            .min(self.settings.backoff_max);
        full / 2 + jitter(full / 2)
    }
}

fn jitter(up_to: Duration) -> Duration {
    let ms = up_to.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
}

fn decode(api: &'static str, what: &str) -> ApiError {
    ApiError {
        api,
        attempts: 1,
        failure: Failure::Decode(what.to_string()),
    }
}
