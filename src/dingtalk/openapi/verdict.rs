//! What a DingTalk answer means for the caller: success, refresh the token, back off, wait out
//! a rate limit, or give up. Pure, so every errcode in PROTOCOL.md §f is a table test.

use std::time::Duration;

use serde_json::Value;

/// Why a call did not succeed, as DingTalk said it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// oapi.dingtalk.com: HTTP 200 with `errcode != 0`.
    #[error("errcode {errcode}: {errmsg}")]
    Refused {
        errcode: i64,
        errmsg: String,
        sub_code: Option<String>,
    },
    /// api.dingtalk.com: HTTP 4xx/5xx with `{code, message, requestid}`.
    #[error("HTTP {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The per-IP ban (`"punish":"deny"`): no errcode, just a wait.
    #[error("this IP is banned by DingTalk's rate limiter (wait {wait_seconds} s)")]
    IpBanned { wait_seconds: u64 },
    #[error("HTTP {status} without a DingTalk error body")]
    Http { status: u16 },
    #[error("timed out")]
    Timeout,
    #[error("cannot connect: {0}")]
    Transport(String),
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// Refused before sending, e.g. a webhook that does not point at DingTalk.
    #[error("not sent: {0}")]
    NotSent(String),
}

impl Failure {
    /// A short label for counting failures: DingTalk's own code where it gave one.
    pub fn code(&self) -> String {
        match self {
            Failure::Refused { errcode, .. } => errcode.to_string(),
            Failure::Rejected { code, .. } => code.clone(),
            Failure::IpBanned { .. } => "ip_banned".into(),
            Failure::Http { status } => format!("http_{status}"),
            Failure::Timeout => "timeout".into(),
            Failure::Transport(_) => "transport".into(),
            Failure::Decode(_) => "decode".into(),
            Failure::NotSent(_) => "not_sent".into(),
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(Value),
    /// The token was refused: fetch a new one and try again.
    RefreshToken(Failure),
    /// A timeout or server error: retry after an exponential backoff.
    Backoff(Failure),
    /// Rate limited: wait (this long, when DingTalk says) and retry.
    RateLimited(Option<Duration>, Failure),
    /// Retrying cannot help.
    GiveUp(Failure),
}

/// Old API (oapi.dingtalk.com): errors are HTTP 200 with an errcode.
pub fn judge_oapi(status: u16, body: &[u8]) -> Verdict {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return if status >= 500 {
            Verdict::Backoff(Failure::Http { status })
        } else {
            Verdict::GiveUp(Failure::Decode(format!(
                "HTTP {status}, body is not JSON ({} bytes)",
                body.len()
            )))
        };
    };
    if let Some(ban) = ip_ban(&value) {
        return Verdict::GiveUp(ban);
    }
    if status >= 500 {
        return Verdict::Backoff(Failure::Http { status });
    }
    let errcode = value.get("errcode").and_then(lenient_i64).unwrap_or(0);
    if errcode == 0 {
        return if (200..300).contains(&status) {
            Verdict::Ok(value)
        } else {
            Verdict::GiveUp(Failure::Http { status })
        };
    }
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    let sub_code = text("sub_code").filter(|s| !s.is_empty());
    let failure = Failure::Refused {
        errcode,
        errmsg: text("errmsg").unwrap_or_default(),
        sub_code: sub_code.clone(),
    };
    match errcode {
        40014 | 42001 => Verdict::RefreshToken(failure),
        // 15: the call timed out inside DingTalk; 88 without a sub-code: its auth service did.
        15 => Verdict::Backoff(failure),
        88 if sub_code.is_none() => Verdict::Backoff(failure),
        90002 | 90018 | 90019 => Verdict::RateLimited(None, failure),
        _ => Verdict::GiveUp(failure),
    }
}

/// New API (api.dingtalk.com): any 4xx/5xx is an error; 2xx bodies are never errors.
pub fn judge_newapi(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Verdict {
    let value = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(body)
    };
    if (200..300).contains(&status) {
        return match value {
            Ok(v) => Verdict::Ok(v),
            Err(e) => Verdict::GiveUp(Failure::Decode(format!("body is not JSON: {e}"))),
        };
    }
    let value = value.unwrap_or(Value::Null);
    if let Some(ban) = ip_ban(&value) {
        return Verdict::GiveUp(ban);
    }
    // The SDK reads the capitalised key first, then the lower-case one.
    let text = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let code = text(["Code", "code"]);
    let failure = match &code {
        Some(code) => Failure::Rejected {
            status,
            code: code.clone(),
            message: text(["Message", "message"]).unwrap_or_default(),
            request_id: text(["RequestId", "requestid"]),
        },
        None => Failure::Http { status },
    };
    let code = code.unwrap_or_default();
    if status == 401 || code == "InvalidAuthentication" {
        Verdict::RefreshToken(failure)
    } else if status == 429 || code.starts_with("Forbidden.AccessDenied.Qps") {
        Verdict::RateLimited(retry_after, failure)
    } else if status >= 500 {
        Verdict::Backoff(failure)
    } else {
        Verdict::GiveUp(failure)
    }
}

fn ip_ban(value: &Value) -> Option<Failure> {
    (value.get("punish").and_then(Value::as_str) == Some("deny")).then(|| Failure::IpBanned {
        wait_seconds: value.get("wait").and_then(lenient_i64).unwrap_or(0).max(0) as u64,
    })
}

/// What a caller can do once a call has failed for good (the client retried it already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The cause may pass (a timeout, a server error, a refused token): try again later.
    Later,
    /// DingTalk limits us: try again after this long.
    After(Duration),
    /// The same call will fail again (no permission, a bad request, an unexpected answer).
    Never,
}

/// How long to wait after a rate-limit answer that names no time.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// How long DingTalk's per-IP ban lasts when the answer does not say.
const IP_BAN_WAIT: Duration = Duration::from_secs(300);
/// The monthly call quota is gone: check again in an hour.
const QUOTA_WAIT: Duration = Duration::from_secs(3600);

impl Failure {
    pub fn retry(&self) -> Retry {
        match self {
            Failure::Refused {
                errcode, sub_code, ..
            } => match errcode {
                40014 | 42001 | 15 => Retry::Later,
                88 if sub_code.is_none() => Retry::Later,
                90002 | 90018 | 90019 => Retry::After(RATE_LIMIT_WAIT),
                90005 | 90006 => Retry::After(IP_BAN_WAIT),
                90020 => Retry::After(QUOTA_WAIT),
                _ => Retry::Never,
            },
            Failure::Rejected { status, code, .. } => {
                if code.starts_with("Forbidden.AccessDenied.ApiCountLimit") {
                    Retry::After(QUOTA_WAIT)
                } else if *status == 429 || code.starts_with("Forbidden.AccessDenied.Qps") {
                    Retry::After(RATE_LIMIT_WAIT)
                } else if *status == 401 || *status >= 500 || code == "InvalidAuthentication" {
                    Retry::Later
                } else {
                    Retry::Never
                }
            }
            Failure::IpBanned { wait_seconds } => Retry::After(match wait_seconds {
                0 => IP_BAN_WAIT,
                seconds => Duration::from_secs(*seconds),
            }),
            Failure::Http { status } if *status == 429 => Retry::After(RATE_LIMIT_WAIT),
            Failure::Http { status } if *status >= 500 => Retry::Later,
            Failure::Timeout | Failure::Transport(_) => Retry::Later,
            Failure::Http { .. } | Failure::Decode(_) | Failure::NotSent(_) => Retry::Never,
        }
    }
}

/// DingTalk's Java SDK sends numbers as strings; its servers sometimes answer the same way.
pub fn lenient_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Ok(_) => "ok",
            Verdict::RefreshToken(_) => "refresh",
            Verdict::Backoff(_) => "backoff",
            Verdict::RateLimited(..) => "rate",
            Verdict::GiveUp(_) => "give_up",
        }
    }

    #[test]
    fn old_api_answers_map_to_the_documented_actions() {
        let cases: &[(u16, &str, &str)] = &[
            (200, r#"{"errcode":0,"errmsg":"ok","task_id":1}"#, "ok"),
            (200, r#"{"errmsg":"ok","result":{}}"#, "ok"),
            (
                200,
                r#"{"errcode":40014,"errmsg":"不合法的access_token"}"#,
                "refresh",
            ),
            (
                200,
                r#"{"errcode":42001,"errmsg":"access_token超时"}"#,
                "refresh",
            ),
            (
                200,
                r#"{"errcode":15,"errmsg":"isp.top-remote-connection-timeout"}"#,
                "backoff",
            ),
            (
                200,
                r#"{"errcode":88,"errmsg":"auth timeout","sub_code":""}"#,
                "backoff",
            ),
            (
                200,
                r#"{"errcode":88,"sub_code":"60011","errmsg":"no permission"}"#,
                "give_up",
            ),
            (200, r#"{"errcode":90018,"errmsg":"qps"}"#, "rate"),
            (200, r#"{"errcode":90002,"errmsg":"global"}"#, "rate"),
            (
                200,
                r#"{"errcode":90020,"errmsg":"monthly quota"}"#,
                "give_up",
            ),
            (
                200,
                r#"{"errcode":"40014","errmsg":"string errcode"}"#,
                "refresh",
            ),
            (
                200,
                r#"{"errcode":60020,"errmsg":"ip not in whitelist"}"#,
                "give_up",
            ),
            (
                200,
                r#"{"status":1111,"wait":5,"source":"x5","punish":"deny"}"#,
                "give_up",
            ),
            (200, "<html>denied</html>", "give_up"),
            (502, "<html>bad gateway</html>", "backoff"),
            (503, r#"{"errcode":0}"#, "backoff"),
        ];
        for (status, body, want) in cases {
            let got = judge_oapi(*status, body.as_bytes());
            assert_eq!(kind(&got), *want, "{status} {body}: {got:?}");
        }
    }

    #[test]
    fn new_api_answers_map_to_the_documented_actions() {
        let cases: &[(u16, &str, &str)] = &[
            (200, r#"{"accessToken":"t","expireIn":7200}"#, "ok"),
            (204, "", "ok"),
            (
                400,
                r#"{"code":"InvalidAuthentication","message":"不合法的access_token","requestid":"r"}"#,
                "refresh",
            ),
            (401, "", "refresh"),
            (
                403,
                r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"m"}"#,
                "rate",
            ),
            (
                403,
                r#"{"Code":"Forbidden.AccessDenied.QpsLimitForApi","Message":"m"}"#,
                "rate",
            ),
            (429, "", "rate"),
            (
                403,
                r#"{"code":"Forbidden.AccessDenied.ApiCountLimitForOrg","message":"m"}"#,
                "give_up",
            ),
            (
                400,
                r#"{"code":"invalidClientIdOrSecret","message":"m","requestid":"r"}"#,
                "give_up",
            ),
            (500, r#"{"code":"InternalError","message":"m"}"#, "backoff"),
            (504, "gateway timeout", "backoff"),
            (200, "not json", "give_up"),
        ];
        for (status, body, want) in cases {
            let got = judge_newapi(*status, None, body.as_bytes());
            assert_eq!(kind(&got), *want, "{status} {body}: {got:?}");
        }
    }

    #[test]
    fn a_failed_call_says_whether_and_when_to_try_again() {
        let refused = |errcode: i64, sub_code: Option<&str>| Failure::Refused {
            errcode,
            errmsg: String::new(),
            sub_code: sub_code.map(str::to_string),
        };
        let rejected = |status: u16, code: &str| Failure::Rejected {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        };
        let second = Duration::from_secs(1);
        let cases = [
            (refused(42001, None), Retry::Later),
            (refused(88, None), Retry::Later),
            (refused(88, Some("60011")), Retry::Never),
            (refused(90018, None), Retry::After(second)),
            (refused(90020, None), Retry::After(QUOTA_WAIT)),
            (refused(60011, None), Retry::Never),
            (rejected(429, "Throttling"), Retry::After(second)),
            (
                rejected(403, "Forbidden.AccessDenied.QpsLimitForApi"),
                Retry::After(second),
            ),
            (
                rejected(403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
                Retry::After(QUOTA_WAIT),
            ),
            (rejected(503, "ServiceUnavailable"), Retry::Later),
            (rejected(400, "invalidParameter"), Retry::Never),
            (
                Failure::IpBanned { wait_seconds: 30 },
                Retry::After(Duration::from_secs(30)),
            ),
            (
                Failure::IpBanned { wait_seconds: 0 },
                Retry::After(IP_BAN_WAIT),
            ),
            (Failure::Http { status: 502 }, Retry::Later),
            (Failure::Http { status: 404 }, Retry::Never),
            (Failure::Timeout, Retry::Later),
            (Failure::Transport("reset".into()), Retry::Later),
            (Failure::Decode("no result".into()), Retry::Never),
        ];
        for (failure, want) in cases {
            assert_eq!(failure.retry(), want, "{failure}");
        }
    }

    #[test]
    fn errors_carry_what_dingtalk_said() {
        let got = judge_newapi(
            400,
            None,
            br#"{"code":"invalidClientIdOrSecret","requestid":"30EE","message":"bad secret"}"#,
        );
        assert_eq!(
            got,
            Verdict::GiveUp(Failure::Rejected {
                status: 400,
                code: "invalidClientIdOrSecret".into(),
                message: "bad secret".into(),
                request_id: Some("30EE".into()),
            })
        );
        let got = judge_oapi(200, br#"{"status":1111,"wait":5,"punish":"deny"}"#);
        assert_eq!(got, Verdict::GiveUp(Failure::IpBanned { wait_seconds: 5 }));
        let got = judge_newapi(429, Some(Duration::from_secs(2)), b"");
        assert!(matches!(got, Verdict::RateLimited(Some(d), _) if d == Duration::from_secs(2)));
    }
}
