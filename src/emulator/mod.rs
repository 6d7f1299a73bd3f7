//! A stand-in for DingTalk, because DingTalk cannot be reached from here: the OpenAPI
//! endpoints jifen calls (PROTOCOL.md §e, §f and the SDK fixtures), over a made-up
//! organisation, with DingTalk's token, rate and notification limits and switchable faults.
//! It records every message it is sent, and plays DingTalk's side of event callbacks and of
//! the robot's chats.

pub mod cards;
pub mod contacts;
pub mod gate;
mod newapi;
mod oapi;
pub mod org;
pub mod push;
pub mod robot;
pub mod stream;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use self::gate::{Fault, Gate, lock};
use self::org::FakeOrg;
use self::push::{CallbackTarget, FailedPush};
use crate::dingtalk::crypto::CallbackCrypto;
use crate::runtime::{Server, serve};

#[derive(Debug, Clone)]
pub struct EmulatorSettings {
    /// Chooses the organisation's people and their check-ins.
    pub seed: u64,
    /// Lifetime of an access token (DingTalk: 7200 s).
    pub token_ttl: Duration,
    /// Calls per second per API before the rate-limit code (DingTalk: 40).
    pub qps_per_api: usize,
    /// Work notifications per person per day (DingTalk: 500 for an internal app).
    pub notifications_per_user_per_day: usize,
    /// Employees in the organisation: 50, or more (up to 100,000) in teams.
    pub people: usize,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        EmulatorSettings {
            seed: 2026,
            token_ttl: Duration::from_secs(7200),
            qps_per_api: 40,
            notifications_per_user_per_day: 500,
            people: 50,
        }
    }
}

/// A message someone was sent through the emulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedMessage {
    pub seq: u64,
    pub at: String,
    /// `work_notification`, `robot_oto`, `robot_group`, `card` (an interactive card), or `robot_session` (a
    /// reply on a sessionWebhook, `to` the conversation and the people @-mentioned).
    pub channel: String,
    /// Userids (or the group's openConversationId) it reached.
    pub to: Vec<String>,
    /// Userids DingTalk's limits kept it from (it still answered success).
    #[serde(default)]
    pub forbidden: Vec<String>,
    pub title: String,
    pub text: String,
    /// The request body as sent.
    pub body: Value,
}

/// An approval instance in the emulated approval system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeInstance {
    pub id: String,
    pub process_code: String,
    pub title: String,
    pub originator: String,
    /// `agree` or `refuse`.
    pub result: String,
    /// `COMPLETED`, or `TERMINATED` once withdrawn.
    pub status: String,
    pub create_ms: i64,
    pub finish_ms: i64,
    /// Label, component type, display value, extValue.
    pub form: Vec<(String, String, String, Option<String>)>,
}

#[derive(Default)]
struct Books {
    messages: Vec<RecordedMessage>,
    approvals: BTreeMap<String, FakeInstance>,
    /// getsendresult per task id.
    tasks: HashMap<i64, Value>,
    /// What each person was sent by work notification, per day: content digests.
    notified: HashMap<(String, jiff::civil::Date), Vec<u64>>,
    login_codes: HashMap<String, (String, Instant)>,
    failed_pushes: Vec<FailedPush>,
    drop_pushes: u32,
    /// Pushes to lose without a trace in the failed-callback list.
    lose_pushes: u32,
    /// sessionWebhooks handed out with robot messages, by session token.
    sessions: HashMap<String, robot::Session>,
    /// A person's day as a test set it, instead of the generated one.
    attendance: HashMap<(String, jiff::civil::Date), Vec<org::FakeAttendance>>,
}

pub struct Emulator {
    pub org: FakeOrg,
    pub gate: Gate,
    settings: EmulatorSettings,
    books: Mutex<Books>,
    callback: Mutex<Option<CallbackTarget>>,
    /// Who joined or left since the organisation was generated.
    staffing: Mutex<contacts::Staffing>,
    robot_url: Mutex<Option<String>>,
    /// Its own address, for the sessionWebhooks it hands out; set when it starts serving.
    base_url: std::sync::OnceLock<String>,
    http: reqwest::Client,
    next_id: AtomicU64,
    token_requests: AtomicU64,
    /// DingTalk's Stream gateway and the connections open on it.
    gateway: stream::Gateway,
    /// Interactive cards, by outTrackId.
    cards: Mutex<BTreeMap<String, cards::CardInstance>>,
}

impl Emulator {
    pub fn new(settings: EmulatorSettings) -> Self {
        Emulator {
            org: FakeOrg::generate_with(settings.seed, settings.people),
            gate: Gate::new(settings.token_ttl, settings.qps_per_api),
            books: Mutex::default(),
            callback: Mutex::default(),
            staffing: Mutex::default(),
            robot_url: Mutex::default(),
            base_url: std::sync::OnceLock::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            next_id: AtomicU64::new(1),
            token_requests: AtomicU64::new(0),
            gateway: stream::Gateway::default(),
            cards: Mutex::default(),
            settings,
        }
    }

    /// Where callbacks go, and the keys that sign and encrypt them (as registered in the
    /// developer console).
    pub fn set_callback(&self, url: String, crypto: CallbackCrypto) {
        *lock(&self.callback) = Some(CallbackTarget { url, crypto });
    }

    /// The next `count` callbacks fail to reach jifen, as when its server is down. `listed`:
    /// they go to the failed-callback list (as DingTalk does); otherwise they are lost
    /// without a trace, which only the attendance results reveal.
    pub fn drop_next_pushes(&self, count: u32, listed: bool) {
        let mut books = lock(&self.books);
        if listed {
            books.drop_pushes += count;
        } else {
            books.lose_pushes += count;
        }
    }

    pub fn base_url(&self) -> Option<String> {
        self.base_url.get().cloned()
    }

    pub fn messages(&self) -> Vec<RecordedMessage> {
        lock(&self.books).messages.clone()
    }

    /// Access tokens handed out so far.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// A single-use micro-app login code for `userid`, valid five minutes.
    pub fn login_code(&self, userid: &str) -> String {
        let code = format!("{:032x}", rand::random::<u128>());
        lock(&self.books)
            .login_codes
            .insert(code.clone(), (userid.to_string(), Instant::now()));
        code
    }

    /// Files an approval: finished with `result` (`agree` or `refuse`), or, without one,
    /// started and waiting for its approvers. `form` is by label; an employee picker takes
    /// userids, separated by commas.
    pub fn file_approval(
        &self,
        process_code: &str,
        originator: &str,
        form: &[(&str, &str)],
        result: Option<&str>,
        at_ms: i64,
    ) -> Result<FakeInstance, String> {
        let template = self
            .org
            .template(process_code)
            .ok_or_else(|| format!("no approval form {process_code}"))?;
        let originator_user = self
            .org
            .user(originator)
            .ok_or_else(|| format!("no user {originator}"))?;
        let mut values = Vec::new();
        for field in &template.fields {
            let given = form
                .iter()
                .find(|(l, _)| *l == field.label)
                .map(|(_, v)| *v);
            let given = given.unwrap_or_default();
            let (value, ext) = if field.component == "InnerContactField" {
                let people: Vec<_> = given
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|id| {
                        self.org
                            .user(id)
                            .ok_or_else(|| format!("no user {id} for {}", field.label))
                    })
                    .collect::<Result<_, _>>()?;
                let names: Vec<&str> = people.iter().map(|u| u.name.as_str()).collect();
                let ext: Vec<Value> = people
                    .iter()
                    .map(|u| json!({"emplId": u.userid, "name": u.name, "selectDeptName": "", "avatar": "", "selectDeptId": ""}))
                    .collect();
                (names.join(","), Some(Value::Array(ext).to_string()))
            } else {
                (given.to_string(), None)
            };
            values.push((field.label.clone(), field.component.clone(), value, ext));
        }
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let instance = FakeInstance {
            id: format!("Emu{n:019}{}", at_ms / 1000),
            process_code: process_code.into(),
            title: format!("{}提交的{}", originator_user.name, template.name),
            originator: originator.into(),
            result: result.unwrap_or_default().into(),
            status: if result.is_some() {
                "COMPLETED"
            } else {
                "RUNNING"
            }
            .into(),
            create_ms: if result.is_some() {
                at_ms - 30 * 60_000
            } else {
                at_ms
            },
            finish_ms: if result.is_some() { at_ms } else { 0 },
            form: values,
        };
        lock(&self.books)
            .approvals
            .insert(instance.id.clone(), instance.clone());
        Ok(instance)
    }

    pub fn approval(&self, id: &str) -> Option<FakeInstance> {
        lock(&self.books).approvals.get(id).cloned()
    }

    /// A person's attendance results for a work date: as set, or as generated.
    pub fn attendance(&self, userid: &str, date: jiff::civil::Date) -> Vec<org::FakeAttendance> {
        let set = lock(&self.books)
            .attendance
            .get(&(userid.to_string(), date))
            .cloned();
        set.unwrap_or_else(|| self.org.attendance(userid, date))
    }

    /// Makes a person's day what a test needs (late by so much, missed, on leave…).
    pub fn set_attendance(
        &self,
        userid: &str,
        date: jiff::civil::Date,
        results: Vec<org::FakeAttendance>,
    ) {
        lock(&self.books)
            .attendance
            .insert((userid.to_string(), date), results);
    }

    /// Finishes a running instance as its approvers decided (`agree` or `refuse`).
    pub fn finish_approval(
        &self,
        id: &str,
        result: &str,
        finish_ms: i64,
    ) -> Result<FakeInstance, String> {
        if !matches!(result, "agree" | "refuse") {
            return Err(format!("result must be agree or refuse, not {result:?}"));
        }
        let mut books = lock(&self.books);
        let instance = books
            .approvals
            .get_mut(id)
            .ok_or_else(|| format!("no approval instance {id}"))?;
        if instance.status != "RUNNING" {
            return Err(format!(
                "approval instance {id} is {}, not running",
                instance.status
            ));
        }
        instance.status = "COMPLETED".into();
        instance.result = result.into();
        instance.finish_ms = finish_ms;
        Ok(instance.clone())
    }

    /// Withdraws (撤销) an instance, as an admin can after it was approved: DingTalk then
    /// reports it `TERMINATED`.
    pub fn withdraw_approval(&self, id: &str) -> Result<FakeInstance, String> {
        let mut books = lock(&self.books);
        let instance = books
            .approvals
            .get_mut(id)
            .ok_or_else(|| format!("no approval instance {id}"))?;
        if instance.status == "TERMINATED" {
            return Err(format!("approval instance {id} is already withdrawn"));
        }
        instance.status = "TERMINATED".into();
        Ok(instance.clone())
    }

    fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst) as i64
    }

    fn record(&self, mut message: RecordedMessage) {
        let names = |ids: &[String]| {
            ids.iter()
                .map(|id| match self.org.user(id) {
                    Some(u) => u.name.clone(),
                    None => id.clone(),
                })
                .collect::<Vec<_>>()
                .join("、")
        };
        tracing::info!(
            target: "jifen::emulator",
            "{} to {}{}: {} | {}",
            message.channel,
            names(&message.to),
            if message.forbidden.is_empty() {
                String::new()
            } else {
                format!(" (held back for {})", names(&message.forbidden))
            },
            message.title,
            message.text.replace('\n', " ")
        );
        let mut books = lock(&self.books);
        message.seq = books.messages.len() as u64 + 1;
        books.messages.push(message);
    }
}

/// The emulator serving on a port.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    pub emulator: Arc<Emulator>,
    server: Server,
}

impl RunningEmulator {
    /// The base URL for both `JIFEN_DINGTALK_API_BASE` and `JIFEN_DINGTALK_OAPI_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) {
        let _ = self.server.stop().await;
    }
}

/// Binds `addr` and serves the emulator there.
pub async fn start(
    settings: EmulatorSettings,
    addr: SocketAddr,
) -> std::io::Result<RunningEmulator> {
    serve_on(settings, TcpListener::bind(addr).await?)
}

/// Serves the emulator on a listener the caller bound.
pub fn serve_on(
    settings: EmulatorSettings,
    listener: TcpListener,
) -> std::io::Result<RunningEmulator> {
    let emulator = Arc::new(Emulator::new(settings));
    let addr = listener.local_addr()?;
    let _ = emulator.base_url.set(format!("http://{addr}"));
    let server = serve(listener, router(emulator.clone()))?;
    Ok(RunningEmulator {
        addr,
        emulator,
        server,
    })
}

pub fn router(emulator: Arc<Emulator>) -> Router {
    Router::new()
        .route("/_emulator/messages", get(list_messages))
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/calls", get(call_counts))
        .route("/_emulator/tokens/expire", post(expire_tokens))
        .route("/_emulator/approvals", post(file_approval))
        .route("/_emulator/approvals/finish", post(finish_approval))
        .route("/_emulator/approvals/withdraw", post(withdraw_approval))
        .route("/_emulator/checkins", post(push_check_ins))
        .route("/_emulator/callbacks/drop", post(drop_pushes))
        .route("/_emulator/robot", post(send_robot_message))
        .route("/_emulator/contacts", post(change_contacts))
        .route("/robot/sendBySession", post(session_reply))
        .route("/_emulator/dingtalk.js", get(jsapi))
        .route("/_emulator/login-codes", get(issue_login_code))
        .route("/_emulator/stream/faults", post(stream::inject))
        .route("/_emulator/stream/ping", post(stream::ping))
        .route("/_emulator/stream/acks", get(stream::acks))
        .route("/_emulator/cards", get(cards::list))
        .route("/_emulator/cards/press", post(cards::press))
        .route(
            "/v1.0/gateway/connections/open",
            post(stream::open_connection),
        )
        .route("/connect", get(stream::connect))
        .fallback(dispatch)
        .with_state(emulator)
}

type Shared = State<Arc<Emulator>>;

async fn list_messages(State(emu): Shared) -> Json<Vec<RecordedMessage>> {
    Json(emu.messages())
}

/// Calls per API, admitted and throttled: how a benchmark counts the calls it cost.
async fn call_counts(State(emu): Shared) -> Json<BTreeMap<String, gate::CallCount>> {
    Json(emu.gate.counts())
}

async fn add_fault(State(emu): Shared, Json(fault): Json<Fault>) -> StatusCode {
    emu.gate.inject(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(emu): Shared) -> StatusCode {
    emu.gate.clear_faults();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(emu): Shared) -> StatusCode {
    emu.gate.expire_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FileApproval {
    process_code: String,
    originator: String,
    #[serde(default)]
    form: BTreeMap<String, String>,
    #[serde(default = "agree")]
    result: String,
}

fn agree() -> String {
    "agree".into()
}

/// Files a finished approval and pushes its `bpms_instance_change` callback.
async fn file_approval(State(emu): Shared, Json(req): Json<FileApproval>) -> Response {
    let form: Vec<(&str, &str)> = req
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let result = (req.result != "running").then_some(req.result.as_str());
    match emu.file_approval(&req.process_code, &req.originator, &form, result, now) {
        Ok(instance) => {
            let pushed = match result {
                Some(_) => emu.push_approval(&instance).await,
                None => emu.push_start(&instance).await,
            };
            Json(json!({"processInstanceId": instance.id, "pushed": pushed})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishApproval {
    process_instance_id: String,
    #[serde(default = "agree")]
    result: String,
}

/// Finishes a running approval and pushes its `bpms_instance_change` of type finish.
async fn finish_approval(State(emu): Shared, Json(req): Json<FinishApproval>) -> Response {
    let now = jiff::Timestamp::now().as_millisecond();
    match emu.finish_approval(&req.process_instance_id, &req.result, now) {
        Ok(instance) => {
            let pushed = emu.push_approval(&instance).await;
            Json(json!({"processInstanceId": instance.id, "pushed": pushed})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

/// A stand-in for DingTalk's JSAPI script (`dingtalk.open.js`), for opening the micro-app
/// in a browser: `dd.requestAuthCode` (and the older `dd.runtime.permission.requestAuthCode`)
/// hand out a login code for the person the page's `dd_user` query names, as DingTalk's
/// client does for whoever is signed in to it. Without `dd_user` it plays a plain browser:
/// `dd.env.platform` is `notInDingTalk`, as the real script reports outside DingTalk.
async fn jsapi(State(emu): Shared) -> Response {
    let base = emu.base_url().unwrap_or_default();
    let script = format!(
        r#"(function () {{
  var base = {base};
  var user = new URLSearchParams(location.search).get("dd_user");
  function code(ok, fail) {{
    if (!user) {{ fail({{ errorCode: "7", errorMessage: "open the page with ?dd_user=USERID" }}); return; }}
    fetch(base + "/_emulator/login-codes?userid=" + encodeURIComponent(user))
      .then(function (r) {{ return r.json(); }})
      .then(function (r) {{ ok({{ code: r.code, authCode: r.code }}); }})
      .catch(function (e) {{ fail({{ errorCode: "-1", errorMessage: String(e) }}); }});
  }}
  window.dd = {{
    env: {{ platform: user ? "pc" : "notInDingTalk" }},
    ready: function (f) {{ f(); }},
    requestAuthCode: function (o) {{ code(o.success || function () {{}}, o.fail || function () {{}}); }},
    runtime: {{ permission: {{ requestAuthCode: function (o) {{ code(o.onSuccess || function () {{}}, o.onFail || function () {{}}); }} }} }}
  }};
}})();
"#,
        base = json!(base)
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        script,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginCodeRequest {
    userid: String,
}

/// A free-login code for a person, as the DingTalk client gets one (valid five minutes,
/// usable once); readable from any page, so the micro-app's origin can ask.
async fn issue_login_code(State(emu): Shared, Query(req): Query<LoginCodeRequest>) -> Response {
    let code = emu.login_code(&req.userid);
    (
        [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        Json(json!({ "code": code })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WithdrawApproval {
    process_instance_id: String,
}

/// Withdraws an approval and pushes its `bpms_instance_change` of type terminate.
async fn withdraw_approval(State(emu): Shared, Json(req): Json<WithdrawApproval>) -> Response {
    match emu.withdraw_approval(&req.process_instance_id) {
        Ok(instance) => {
            let pushed = emu.push_withdrawal(&instance).await;
            Json(json!({"processInstanceId": instance.id, "pushed": pushed})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

#[derive(Deserialize)]
struct PushCheckIns {
    date: jiff::civil::Date,
    #[serde(default)]
    userids: Vec<String>,
}

/// Pushes a day's check-ins (everyone's, or these people's) as callbacks.
async fn push_check_ins(State(emu): Shared, Json(req): Json<PushCheckIns>) -> Json<Value> {
    let users: Vec<String> = if req.userids.is_empty() {
        emu.org.users.iter().map(|u| u.userid.clone()).collect()
    } else {
        req.userids
    };
    let mut pushed = 0;
    for userid in &users {
        pushed += emu.push_check_ins(userid, req.date).await;
    }
    Json(json!({"pushed": pushed}))
}

#[derive(Deserialize)]
struct DropPushes {
    count: u32,
    /// Lost without a trace, instead of listed as failed.
    #[serde(default)]
    unlisted: bool,
}

async fn drop_pushes(State(emu): Shared, Json(req): Json<DropPushes>) -> StatusCode {
    emu.drop_next_pushes(req.count, !req.unlisted);
    StatusCode::NO_CONTENT
}

async fn send_robot_message(State(emu): Shared, Json(send): Json<robot::RobotSend>) -> Response {
    match emu.send_robot_message(&send).await {
        Ok(delivery) => Json(delivery).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

#[derive(Deserialize)]
struct ContactRequest {
    #[serde(flatten)]
    change: contacts::ContactChange,
    /// Push DingTalk's contact event for it (the default), or change it unannounced.
    #[serde(default = "announced")]
    announce: bool,
}

fn announced() -> bool {
    true
}

async fn change_contacts(State(emu): Shared, Json(request): Json<ContactRequest>) -> Json<Value> {
    let delivered = emu.change_contacts(request.change, request.announce).await;
    Json(json!({ "delivered": delivered }))
}

async fn session_reply(
    State(emu): Shared,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    Json(emu.session_reply(query.get("session").map(String::as_str), &body))
}

/// Every OpenAPI path: the old API on plain paths, the new one under `/v1.0/`.
async fn dispatch(
    State(emu): Shared,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if path.starts_with("/v1.0/") {
        let token = headers
            .get("x-acs-dingtalk-access-token")
            .and_then(|v| v.to_str().ok());
        newapi::handle(&emu, &method, path, &query, token, &body).await
    } else {
        oapi::handle(&emu, &method, path, &query, &body).await
    }
}

/// Parameters as DingTalk reads them: its Java SDK sends every scalar as a string.
pub(crate) mod params {
    use serde_json::Value;

    use crate::dingtalk::openapi::verdict::lenient_i64;

    pub fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
        body.get(key).and_then(Value::as_str)
    }

    pub fn int(body: &Value, key: &str) -> Option<i64> {
        body.get(key).and_then(lenient_i64)
    }

    pub fn boolean(body: &Value, key: &str) -> Option<bool> {
        match body.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A list given as a JSON array or a comma-separated string.
    pub fn list(body: &Value, key: &str) -> Vec<String> {
        match body.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => vec![],
        }
    }
}

/// A digest for "the same content" in DingTalk's once-a-day rule.
fn digest(value: &Value) -> u64 {
    value
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn request_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}
