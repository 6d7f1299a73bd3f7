//! DingTalk's Stream gateway (PROTOCOL.md §c): `POST /v1.0/gateway/connections/open` checks the
//! app's credentials and hands out a ticket (valid 90 s, once), `GET /connect?ticket=` opens
//! the WebSocket, and events, robot messages and card callbacks are pushed as frames to one connection at
//! random. ACKs are recorded; an event not acknowledged `SUCCESS` in time is pushed again.
//! Faults: a disconnect notice, a dropped socket, a silent socket, refused tickets.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::Emulator;
use super::gate::lock;
use super::org::{APP_KEY, APP_SECRET, CORP_ID};
use crate::dingtalk::stream::{Frame, Subscription};

/// How long a ticket opens a connection (DingTalk: 90 s).
const TICKET_TTL: Duration = Duration::from_secs(90);
/// Pushes of one event before it is given up (and listed as failed).
const DELIVERIES: u32 = 6;

/// How the gateway waits on the client; tests shorten DingTalk's waits.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// An event without an ACK after this long is pushed again.
    pub ack_timeout: Duration,
    /// After a disconnect notice, how long until the gateway closes the socket (DingTalk:
    /// about 10 s).
    pub disconnect_grace: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            ack_timeout: Duration::from_secs(10),
            disconnect_grace: Duration::from_secs(10),
        }
    }
}

/// An ACK the gateway received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedAck {
    pub message_id: String,
    pub code: i64,
    /// The ACK's `data`, decoded when it is JSON.
    pub data: Value,
    /// The whole frame as sent.
    pub raw: String,
}

/// A fault to inject into the open connections (`POST /_emulator/stream/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum StreamFault {
    /// A SYSTEM disconnect to each, then the socket closes after the grace period.
    Disconnect,
    /// Each socket closed at once, without a word.
    Drop,
    /// Each socket goes quiet: nothing read or written (pings unanswered), still open.
    Silence,
    /// The next `count` connects are refused although their tickets are good.
    RefuseTickets { count: u32 },
}

enum Out {
    Text(String),
    Close,
}

struct Connection {
    id: u64,
    out: mpsc::UnboundedSender<Out>,
    subscriptions: Vec<Subscription>,
    silent: Arc<AtomicBool>,
    /// Told to disconnect: gets no more pushes.
    closing: bool,
}

impl Connection {
    fn takes(&self, kind: &str, topic: &str) -> bool {
        !self.closing
            && self
                .subscriptions
                .iter()
                .any(|s| s.kind == kind && (s.topic == topic || s.topic == "*"))
    }
}

#[derive(Default)]
pub struct Gateway {
    settings: std::sync::Mutex<GatewaySettings>,
    /// Ticket → when issued, and the subscriptions it was opened for.
    tickets: std::sync::Mutex<HashMap<String, (Instant, Vec<Subscription>)>>,
    connections: std::sync::Mutex<Vec<Connection>>,
    /// Pushes waiting for their ACK, by messageId.
    waiting: std::sync::Mutex<HashMap<String, oneshot::Sender<RecordedAck>>>,
    acks: std::sync::Mutex<Vec<RecordedAck>>,
    refuse: AtomicU32,
    next: AtomicU64,
    /// Connections opened since the start.
    connected: AtomicU64,
    /// Once a connection took events (robot messages), the app is in Stream mode for them,
    /// as its console says: pushes wait for a connection rather than go by HTTP.
    events_by_stream: AtomicBool,
    robot_by_stream: AtomicBool,
}

impl Gateway {
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl Emulator {
    pub fn set_gateway(&self, settings: GatewaySettings) {
        *lock(&self.gateway.settings) = settings;
    }

    /// Every ACK received, in order.
    pub fn stream_acks(&self) -> Vec<RecordedAck> {
        lock(&self.gateway.acks).clone()
    }

    /// Connections open now (told to disconnect or not), and connections opened in all.
    pub fn stream_connections(&self) -> (usize, u64) {
        (
            lock(&self.gateway.connections).len(),
            self.gateway.connected.load(Ordering::SeqCst),
        )
    }

    /// Whether a connection takes pushes of `kind` on `topic` now.
    pub fn streams(&self, kind: &str, topic: &str) -> bool {
        lock(&self.gateway.connections)
            .iter()
            .any(|c| c.takes(kind, topic))
    }

    /// Whether events (`robot`: robot messages) go by Stream: a connection has taken them.
    pub fn stream_mode(&self, robot: bool) -> bool {
        match robot {
            false => self.gateway.events_by_stream.load(Ordering::SeqCst),
            true => self.gateway.robot_by_stream.load(Ordering::SeqCst),
        }
    }

    pub fn stream_fault(self: &Arc<Self>, fault: StreamFault) {
        let gateway = &self.gateway;
        match fault {
            StreamFault::RefuseTickets { count } => {
                gateway.refuse.fetch_add(count, Ordering::SeqCst);
            }
            StreamFault::Drop => {
                for c in lock(&gateway.connections).drain(..) {
                    let _ = c.out.send(Out::Close);
                }
            }
            StreamFault::Silence => {
                for c in lock(&gateway.connections).iter_mut() {
                    c.silent.store(true, Ordering::SeqCst);
                    c.closing = true;
                }
            }
            StreamFault::Disconnect => {
                let grace = lock(&gateway.settings).disconnect_grace;
                let mut ids = Vec::new();
                for c in lock(&gateway.connections).iter_mut() {
                    let frame = system_frame(
                        &format!("disconnect-{}", gateway.next_id()),
                        "disconnect",
                        json!({"reason": "connection is expired"}),
                    );
                    let _ = c.out.send(Out::Text(frame));
                    c.closing = true;
                    ids.push(c.id);
                }
                let emu = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let mut connections = lock(&emu.gateway.connections);
                    connections.retain(|c| {
                        let gone = ids.contains(&c.id);
                        if gone {
                            let _ = c.out.send(Out::Close);
                        }
                        !gone
                    });
                });
            }
        }
    }

    /// A SYSTEM ping to every connection; their echoes are recorded with the other ACKs.
    pub fn stream_ping(&self) {
        for c in lock(&self.gateway.connections).iter() {
            let id = format!("ping-{}", self.gateway.next_id());
            let frame = system_frame(&id, "ping", json!({"opaque": id}));
            let _ = c.out.send(Out::Text(frame));
        }
    }

    /// Pushes an event (`plaintext` as an HTTP callback would carry it) over Stream until it
    /// is acknowledged `SUCCESS`, each time to a connection at random; false when it never
    /// was, or no connection takes events.
    pub async fn stream_event(&self, event_type: &str, plaintext: &str) -> bool {
        // The Stream envelope carries the type in its headers; the body is the rest.
        let mut body: Map<String, Value> = serde_json::from_str(plaintext).unwrap_or_default();
        body.remove("EventType");
        let data = Value::Object(body).to_string();
        let event_id = format!("{:032x}", rand::random::<u128>());
        for attempt in 1..=DELIVERIES {
            let message_id = format!("evt_{}_{attempt}", self.gateway.next_id());
            let mut headers = base_headers(&message_id, "*");
            headers.insert("eventType".into(), json!(event_type));
            headers.insert("eventId".into(), json!(event_id));
            headers.insert("eventCorpId".into(), json!(CORP_ID));
            headers.insert(
                "eventBornTime".into(),
                json!(jiff::Timestamp::now().as_millisecond().to_string()),
            );
            headers.insert(
                "eventUnifiedAppId".into(),
                json!("bbb381b6-f01e-4c5d-8a7b-5c3d2e58daac"),
            );
            let frame = Frame {
                spec_version: "1.0".into(),
                kind: "EVENT".into(),
                headers,
                data: data.clone(),
            };
            match self.deliver("EVENT", "*", &message_id, &frame).await {
                Some(ack) if accepted(&ack) => return true,
                Some(_) => {
                    tracing::info!(target: "jifen::emulator", event_type, attempt, "Stream event answered LATER; pushing again");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                None => {
                    tracing::info!(target: "jifen::emulator", event_type, attempt, "Stream event not acknowledged; pushing again");
                }
            }
        }
        false
    }

    /// Pushes a robot message over Stream once (DingTalk does not push them again); the
    /// ACK, if one came in time.
    pub async fn stream_robot_message(&self, body: &Value) -> Option<RecordedAck> {
        let topic = crate::dingtalk::stream::ROBOT_TOPIC;
        let message_id = format!("bot_{}", self.gateway.next_id());
        let frame = Frame {
            spec_version: "1.0".into(),
            kind: "CALLBACK".into(),
            headers: base_headers(&message_id, topic),
            data: body.to_string(),
        };
        self.deliver("CALLBACK", topic, &message_id, &frame).await
    }

    /// Pushes a card callback (`data` as DingTalk sends it) over Stream until a 200 ACK
    /// comes back, under one messageId; the ACK, or `None` when none came.
    pub async fn stream_card_callback(&self, data: String) -> Option<RecordedAck> {
        let topic = crate::dingtalk::stream::CARD_TOPIC;
        let message_id = format!("card_{}", self.gateway.next_id());
        let frame = Frame {
            spec_version: "1.0".into(),
            kind: "CALLBACK".into(),
            headers: base_headers(&message_id, topic),
            data,
        };
        for attempt in 1..=DELIVERIES {
            match self.deliver("CALLBACK", topic, &message_id, &frame).await {
                Some(ack) if ack.code == 200 => return Some(ack),
                _ => {
                    tracing::info!(target: "jifen::emulator", attempt, "card callback not acknowledged; pushing again");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
        None
    }

    /// Sends `frame` to a connection taking `kind` on `topic`, and waits for its ACK.
    async fn deliver(
        &self,
        kind: &str,
        topic: &str,
        message_id: &str,
        frame: &Frame,
    ) -> Option<RecordedAck> {
        let (done, acked) = oneshot::channel();
        lock(&self.gateway.waiting).insert(message_id.to_string(), done);
        let sent = {
            let connections = lock(&self.gateway.connections);
            let takers: Vec<&Connection> = connections
                .iter()
                .filter(|c| c.takes(kind, topic))
                .collect();
            match takers.len() {
                0 => false,
                n => {
                    let pick = takers[rand::thread_rng().gen_range(0..n)];
                    let text = serde_json::to_string(frame).unwrap_or_default();
                    pick.out.send(Out::Text(text)).is_ok()
                }
            }
        };
        let timeout = lock(&self.gateway.settings).ack_timeout;
        let ack = match sent {
            true => tokio::time::timeout(timeout, acked)
                .await
                .ok()
                .and_then(Result::ok),
            false => {
                // No one to push to now; DingTalk would hold it a while.
                tokio::time::sleep(timeout.min(Duration::from_secs(1))).await;
                None
            }
        };
        lock(&self.gateway.waiting).remove(message_id);
        ack
    }
}

/// `SUCCESS`, or a 200 with data that is not a status (what DingTalk's Python SDK sends).
fn accepted(ack: &RecordedAck) -> bool {
    ack.code == 200
        && match ack.data.get("status").and_then(Value::as_str) {
            Some(status) => status == "SUCCESS",
            None => true,
        }
}

fn base_headers(message_id: &str, topic: &str) -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert(
        "appId".into(),
        json!("1305d5f5-7c2e-484f-9a3b-97d9c0e1ef67"),
    );
    headers.insert(
        "connectionId".into(),
        json!("8a1b2c3d-4e5f-4061-8273-9485a6b7c8d9"),
    );
    headers.insert("contentType".into(), json!("application/json"));
    headers.insert("messageId".into(), json!(message_id));
    headers.insert(
        "time".into(),
        json!(jiff::Timestamp::now().as_millisecond().to_string()),
    );
    headers.insert("topic".into(), json!(topic));
    headers
}

fn system_frame(message_id: &str, topic: &str, data: Value) -> String {
    let frame = Frame {
        spec_version: "1.0".into(),
        kind: "SYSTEM".into(),
        headers: base_headers(message_id, topic),
        data: data.to_string(),
    };
    serde_json::to_string(&frame).unwrap_or_default()
}

fn new_api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "code": code,
        "requestid": format!("{:032X}", rand::random::<u128>()),
        "message": message,
    });
    (status, Json(body)).into_response()
}

/// `POST /v1.0/gateway/connections/open`.
pub(super) async fn open_connection(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !wants_json {
        // What the gateway does without `Accept: application/json` (PROTOCOL.md §c).
        return (
            [(header::CONTENT_TYPE, "application/xml")],
            "<OpenConnectionResponse><endpoint/></OpenConnectionResponse>",
        )
            .into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return new_api_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "body is not JSON",
        );
    };
    let text = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or("");
    if text("clientId") != APP_KEY || text("clientSecret") != APP_SECRET {
        return new_api_error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    let subscriptions: Vec<Subscription> = request
        .get("subscriptions")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let bad = subscriptions.is_empty()
        || subscriptions.iter().any(|s| {
            !matches!(s.kind.as_str(), "EVENT" | "CALLBACK")
                || (s.kind == "EVENT" && s.topic != "*")
                || s.topic.is_empty()
        });
    if bad {
        return new_api_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "subscriptions: EVENT takes topic * only; CALLBACK a topic",
        );
    }
    let ticket = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rand::random::<u32>(),
        rand::random::<u16>(),
        rand::random::<u16>() & 0xfff,
        rand::random::<u16>(),
        rand::random::<u64>() & 0xffff_ffff_ffff
    );
    lock(&emu.gateway.tickets).insert(ticket.clone(), (Instant::now(), subscriptions));
    let base = emu.base_url().unwrap_or_default();
    let endpoint = format!("{}/connect", base.replacen("http", "ws", 1));
    Json(json!({ "endpoint": endpoint, "ticket": ticket })).into_response()
}

#[derive(Deserialize)]
pub(super) struct Connect {
    #[serde(default)]
    ticket: String,
}

/// `GET /connect?ticket=`: a ticket opens one connection, within 90 s of being issued.
pub(super) async fn connect(
    State(emu): State<Arc<Emulator>>,
    Query(query): Query<Connect>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let issued = lock(&emu.gateway.tickets).remove(&query.ticket);
    let Some((at, subscriptions)) = issued else {
        return (StatusCode::UNAUTHORIZED, "unknown or used ticket").into_response();
    };
    if at.elapsed() > TICKET_TTL {
        return (StatusCode::UNAUTHORIZED, "ticket expired").into_response();
    }
    let refused = emu
        .gateway
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refused {
        return (StatusCode::UNAUTHORIZED, "ticket refused (fault)").into_response();
    }
    upgrade.on_upgrade(move |socket| serve(emu, socket, subscriptions))
}

async fn serve(emu: Arc<Emulator>, socket: WebSocket, subscriptions: Vec<Subscription>) {
    let gateway = &emu.gateway;
    let id = gateway.next_id();
    let (out, mut outgoing) = mpsc::unbounded_channel();
    let silent = Arc::new(AtomicBool::new(false));
    let robot = crate::dingtalk::stream::ROBOT_TOPIC;
    if subscriptions.iter().any(|s| s.kind == "EVENT") {
        gateway.events_by_stream.store(true, Ordering::SeqCst);
    }
    if subscriptions
        .iter()
        .any(|s| s.kind == "CALLBACK" && s.topic == robot)
    {
        gateway.robot_by_stream.store(true, Ordering::SeqCst);
    }
    lock(&gateway.connections).push(Connection {
        id,
        out,
        subscriptions,
        silent: silent.clone(),
        closing: false,
    });
    gateway.connected.fetch_add(1, Ordering::SeqCst);
    let (mut sink, mut frames) = socket.split();
    loop {
        if silent.load(Ordering::SeqCst) {
            // Holds the socket open and answers nothing, until the client gives up on it.
            let _ = outgoing.recv().await;
            if outgoing.is_closed() {
                break;
            }
            continue;
        }
        tokio::select! {
            next = outgoing.recv() => match next {
                Some(Out::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = sink.close().await;
                    break;
                }
            },
            frame = frames.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if !silent.load(Ordering::SeqCst) {
                        record_ack(gateway, text.as_str());
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    lock(&gateway.connections).retain(|c| c.id != id);
}

fn record_ack(gateway: &Gateway, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tracing::warn!(target: "jifen::emulator", "a Stream ACK that is not JSON");
        return;
    };
    let message_id = frame["headers"]["messageId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let data = frame["data"]
        .as_str()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.into())))
        .unwrap_or(Value::Null);
    let ack = RecordedAck {
        message_id: message_id.clone(),
        code: frame["code"].as_i64().unwrap_or(0),
        data,
        raw: text.to_string(),
    };
    lock(&gateway.acks).push(ack.clone());
    if let Some(waiter) = lock(&gateway.waiting).remove(&message_id) {
        let _ = waiter.send(ack);
    }
}

/// `POST /_emulator/stream/faults` with `{"fault": "disconnect" | "drop" | "silence"}` or
/// `{"fault": "refuse_tickets", "count": 2}`; `POST /_emulator/stream/ping`;
/// `GET /_emulator/stream/acks`.
pub(super) async fn inject(
    State(emu): State<Arc<Emulator>>,
    Json(fault): Json<StreamFault>,
) -> StatusCode {
    emu.stream_fault(fault);
    StatusCode::NO_CONTENT
}

pub(super) async fn ping(State(emu): State<Arc<Emulator>>) -> StatusCode {
    emu.stream_ping();
    StatusCode::NO_CONTENT
}

pub(super) async fn acks(State(emu): State<Arc<Emulator>>) -> Json<Vec<RecordedAck>> {
    Json(emu.stream_acks())
}
