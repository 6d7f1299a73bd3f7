//! What stands between a request and the emulator's answer, as at DingTalk: the access
//! token (issued, expiring), the per-app-per-API QPS limit, and faults switched on by a
//! test or by hand.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A fault to inject into the next `times` calls of one API (or every API: `"*"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The path, e.g. `/attendance/list` or `/v1.0/workflow/processInstances`, or `*`.
    pub api: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FaultKind {
    /// HTTP 500 (new API) / 502 with an HTML page (old API).
    ServerError,
    /// Answer normally, after a delay.
    Slow { millis: u64 },
    /// Treat the caller's token as expired.
    ExpiredToken,
    /// Answer with the rate-limit code.
    RateLimit,
    /// DingTalk's own timeout: errcode 15 (old API) / HTTP 504 (new API).
    Timeout,
}

/// How one API has been called: what was let through, and what was refused for exceeding
/// the per-second limit (a caller that keeps to the limit sees none of the latter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCount {
    pub admitted: u64,
    pub throttled: u64,
}

/// Why the gate refused a call; the endpoint family turns it into its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoToken,
    UnknownToken,
    ExpiredToken,
    RateLimited,
    ServerError,
    Timeout,
}

pub struct Gate {
    token_ttl: Duration,
    qps_per_api: usize,
    tokens: Mutex<HashMap<String, Instant>>,
    calls: Mutex<HashMap<String, VecDeque<Instant>>>,
    counts: Mutex<BTreeMap<String, CallCount>>,
    faults: Mutex<Vec<Fault>>,
}

impl Gate {
    pub fn new(token_ttl: Duration, qps_per_api: usize) -> Self {
        Gate {
            token_ttl,
            qps_per_api,
            tokens: Mutex::default(),
            calls: Mutex::default(),
            counts: Mutex::default(),
            faults: Mutex::default(),
        }
    }

    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    pub fn issue_token(&self) -> String {
        let token = format!("{:032x}", rand::random::<u128>());
        lock(&self.tokens).insert(token.clone(), Instant::now() + self.token_ttl);
        token
    }

    /// Expires every token issued so far, as if two hours had passed.
    pub fn expire_tokens(&self) {
        let past = Instant::now();
        for expiry in lock(&self.tokens).values_mut() {
            *expiry = past;
        }
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Checks a call to `api`; `token` is `None` for the token endpoints themselves.
    /// Returns a delay to apply before answering (a slow fault).
    pub fn admit(&self, api: &str, token: Option<Option<&str>>) -> Result<Duration, Refusal> {
        let fault = self.take_fault(api);
        let mut delay = Duration::ZERO;
        match fault {
            Some(FaultKind::ServerError) => return Err(Refusal::ServerError),
            Some(FaultKind::Timeout) => return Err(Refusal::Timeout),
            Some(FaultKind::RateLimit) => return Err(Refusal::RateLimited),
            Some(FaultKind::ExpiredToken) if token.is_some() => {
                return Err(Refusal::ExpiredToken);
            }
            Some(FaultKind::Slow { millis }) => delay = Duration::from_millis(millis),
            _ => {}
        }
        self.count_call(api)?;
        if let Some(token) = token {
            let token = token.filter(|t| !t.is_empty()).ok_or(Refusal::NoToken)?;
            match lock(&self.tokens).get(token) {
                None => return Err(Refusal::UnknownToken),
                Some(expiry) if Instant::now() >= *expiry => return Err(Refusal::ExpiredToken),
                Some(_) => {}
            }
        }
        Ok(delay)
    }

    /// Calls per API so far, admitted and throttled.
    pub fn counts(&self) -> BTreeMap<String, CallCount> {
        lock(&self.counts).clone()
    }

    /// DingTalk counts calls per app and API over one second.
    fn count_call(&self, api: &str) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut calls = lock(&self.calls);
        let window = calls.entry(api.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        let admitted = window.len() < self.qps_per_api;
        if admitted {
            window.push_back(now);
        }
        drop(calls);
        let mut counts = lock(&self.counts);
        let count = counts.entry(api.to_string()).or_default();
        if admitted {
            count.admitted += 1;
            Ok(())
        } else {
            count.throttled += 1;
            Err(Refusal::RateLimited)
        }
    }

    fn take_fault(&self, api: &str) -> Option<FaultKind> {
        let mut faults = lock(&self.faults);
        let i = faults
            .iter()
            .position(|f| (f.api == api || f.api == "*") && f.times > 0)?;
        faults[i].times -= 1;
        let kind = faults[i].kind.clone();
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(kind)
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_unknown_tokens_are_refused() {
        let gate = Gate::new(Duration::from_secs(60), 100);
        let token = gate.issue_token();
        assert!(gate.admit("/x", Some(Some(&token))).is_ok());
        assert_eq!(
            gate.admit("/x", Some(Some("nope"))),
            Err(Refusal::UnknownToken)
        );
        assert_eq!(gate.admit("/x", Some(None)), Err(Refusal::NoToken));
        gate.expire_tokens();
        assert_eq!(
            gate.admit("/x", Some(Some(&token))),
            Err(Refusal::ExpiredToken)
        );
    }

    #[test]
    fn the_forty_first_call_in_a_second_is_rate_limited_per_api() {
        let gate = Gate::new(Duration::from_secs(60), 40);
        for _ in 0..40 {
            assert!(gate.admit("/a", None).is_ok());
        }
        assert_eq!(gate.admit("/a", None), Err(Refusal::RateLimited));
        assert!(
            gate.admit("/b", None).is_ok(),
            "another API has its own budget"
        );
        let counts = gate.counts();
        assert_eq!(
            counts["/a"],
            CallCount {
                admitted: 40,
                throttled: 1
            }
        );
        assert_eq!(counts["/b"].admitted, 1);
    }

    #[test]
    fn faults_apply_to_their_api_the_given_number_of_times() {
        let gate = Gate::new(Duration::from_secs(60), 100);
        gate.inject(Fault {
            api: "/a".into(),
            kind: FaultKind::ServerError,
            times: 2,
        });
        assert_eq!(gate.admit("/b", None), Ok(Duration::ZERO));
        assert_eq!(gate.admit("/a", None), Err(Refusal::ServerError));
        assert_eq!(gate.admit("/a", None), Err(Refusal::ServerError));
        assert_eq!(gate.admit("/a", None), Ok(Duration::ZERO));
    }
}
