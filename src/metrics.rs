//! Process-wide counters for `GET /metrics` (callbacks and Stream frames by outcome, DingTalk
//! calls by API and result), kept by the `metrics` facade and rendered in Prometheus' text
//! format. The first caller installs the recorder; counting before that, or without it, is a
//! no-op.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process; `None` if another recorder holds the slot.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// The counters so far, in Prometheus' text format.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// Counts what became of one event or message that arrived: `path` is `http`, `robot` or
/// `stream`; `outcome` `stored`, `later` or `refused` (with the refusal's code as `reason`).
pub fn arrived(path: &'static str, outcome: &'static str, reason: &'static str) {
    metrics::counter!("jifen_ingress_total", "path" => path, "outcome" => outcome, "reason" => reason)
        .increment(1);
}

/// Counts one DingTalk call's end: `ok`, or the error code DingTalk answered with.
pub fn dingtalk_call(api: &'static str, outcome: String) {
    metrics::counter!("jifen_dingtalk_calls_total", "api" => api, "outcome" => outcome)
        .increment(1);
}
