//! Stream mode (PROTOCOL.md §c): jifen opens a WebSocket to DingTalk's gateway and events,
//! robot messages and card button presses arrive over it, so no public URL, certificate or
//! callback crypto is needed. Each frame goes into the same inbox as an HTTP callback, under
//! the same key, and is acknowledged only once stored; one that cannot be stored is answered
//! `LATER`, so DingTalk pushes it again. Asked to disconnect, the client opens the next
//! connection first.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::InboxWriter;
use super::robot::robot_row;
use crate::dingtalk::card::{CARD_CALLBACK, parse_press};
use crate::dingtalk::events::{Message as Parsed, parse_message};
use crate::dingtalk::openapi::{ApiError, OpenApiClient};
use crate::dingtalk::stream::{
    CARD_TOPIC, EventStatus, Inbound, ROBOT_TOPIC, Subscription, ack, callback_ack, event_ack,
    event_plaintext, parse_frame,
};
use crate::metrics;
use crate::runtime::CancellationToken;
use crate::store::NewInboxRow;

/// How the client keeps its connection.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Frames being stored at once; one more is answered `LATER`.
    pub max_in_flight: usize,
    /// A WebSocket ping this often, so a quiet connection is known to be alive.
    pub keepalive: Duration,
    /// Nothing heard (no frame, no pong) for this long: the socket is dead; reconnect.
    pub idle_timeout: Duration,
    /// First wait after a failed connection; doubles, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a connection told to disconnect keeps serving while the next one opens
    /// (DingTalk closes it about 10 s after its notice).
    pub drain: Duration,
    /// A robot message must name this robot and come from this organisation, when set.
    pub robot_code: Option<String>,
    pub corp_id: Option<String>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            max_in_flight: 64,
            keepalive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            drain: Duration::from_secs(15),
            robot_code: None,
            corp_id: None,
        }
    }
}

/// A connection that ends sooner than this after opening counts as a failure for backoff.
const SHORT_LIVED: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("cannot open a Stream connection: {0}")]
    Open(#[from] ApiError),
    #[error("the gateway's endpoint is not a URL")]
    BadEndpoint,
    #[error("cannot connect to the Stream gateway: {0}")]
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
}

pub struct StreamClient {
    pub client: Arc<OpenApiClient>,
    pub inbox: InboxWriter,
    pub settings: StreamSettings,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl StreamClient {
    /// Events of every kind the console chose, the robot's messages, and presses on the
    /// cards jifen sent.
    pub fn subscriptions() -> Vec<Subscription> {
        vec![
            Subscription::events(),
            Subscription::callback(ROBOT_TOPIC),
            Subscription::callback(CARD_TOPIC),
        ]
    }

    /// Keeps a connection open until `cancel` fires, reconnecting with backoff.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let socket = tokio::select! {
                socket = self.connect() => socket,
                _ = cancel.cancelled() => return,
            };
            let socket = match socket {
                Ok(socket) => socket,
                Err(e) => {
                    failures += 1;
                    let wait = backoff(&self.settings, failures);
                    tracing::warn!(error = %e, attempt = failures, wait_ms = wait.as_millis() as u64, "Stream connection failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = cancel.cancelled() => return,
                    }
                }
            };
            tracing::info!("Stream connection open");
            let opened = Instant::now();
            let (replace, replaced) = oneshot::channel();
            let mut connection = tokio::spawn(self.clone().serve(socket, replace, cancel.clone()));
            tokio::select! {
                asked = replaced => {
                    if asked.is_ok() {
                        // The old connection drains in the background meanwhile.
                        tracing::info!("DingTalk asked to reconnect; opening the next connection first");
                        failures = 0;
                        continue;
                    }
                    let _ = (&mut connection).await;
                }
                _ = &mut connection => {}
                _ = cancel.cancelled() => {
                    let _ = connection.await;
                    return;
                }
            }
            if opened.elapsed() < SHORT_LIVED {
                failures += 1;
                let wait = backoff(&self.settings, failures);
                tracing::warn!(
                    wait_ms = wait.as_millis() as u64,
                    "Stream connection ended soon after opening; waiting before the next"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return,
                }
            } else {
                failures = 0;
                tracing::info!("Stream connection ended; reconnecting");
            }
        }
    }

    /// A fresh ticket, and the socket it opens.
    async fn connect(&self) -> Result<Socket, StreamError> {
        let ticket = self
            .client
            .open_stream_connection(&Self::subscriptions())
            .await?;
        let url = ticket.url().ok_or(StreamError::BadEndpoint)?;
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(socket)
    }

    /// Serves one connection until it closes, goes silent, finishes draining after a
    /// disconnect notice (`replace` is told at the notice), or `cancel` fires.
    async fn serve(
        self: Arc<Self>,
        socket: Socket,
        replace: oneshot::Sender<()>,
        cancel: CancellationToken,
    ) {
        let s = &self.settings;
        let (mut sink, mut frames) = socket.split();
        let (out, mut outgoing) = mpsc::channel::<Message>(s.max_in_flight * 2 + 16);
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if let Err(e) = sink.send(message).await {
                    tracing::debug!(error = %e, "Stream socket closed while writing");
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let in_flight = Arc::new(Semaphore::new(s.max_in_flight));
        let mut keepalive = tokio::time::interval(s.keepalive);
        keepalive.tick().await;
        let mut heard = Instant::now();
        let mut replace = Some(replace);
        let mut drain_until: Option<Instant> = None;
        loop {
            let idle = heard + s.idle_timeout;
            let deadline = drain_until.map_or(idle, |d| d.min(idle));
            tokio::select! {
                frame = frames.next() => match frame {
                    Some(Ok(message)) => {
                        heard = Instant::now();
                        match message {
                            Message::Text(text) => {
                                let notice = self.on_frame(text.as_str(), &out, &in_flight).await;
                                if notice && let Some(replace) = replace.take() {
                                    let _ = replace.send(());
                                    drain_until = Some(Instant::now() + s.drain);
                                }
                            }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "Stream socket failed");
                        break;
                    }
                    None => break,
                },
                _ = keepalive.tick() => {
                    let _ = out.try_send(Message::Ping(Default::default()));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if drain_until.is_none() {
                        tracing::warn!(idle_seconds = s.idle_timeout.as_secs(), "nothing heard on the Stream socket; reconnecting");
                    }
                    break;
                }
                _ = cancel.cancelled() => break,
            }
        }
        // Frames being stored still get their ACK (or, if the socket is gone, their
        // redelivery); then the socket closes.
        let all = u32::try_from(s.max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(Duration::from_secs(10), in_flight.acquire_many(all)).await;
        drop(out);
        let _ = writer.await;
    }

    /// Handles one text frame; true when it is the gateway's disconnect notice.
    async fn on_frame(
        &self,
        text: &str,
        out: &mpsc::Sender<Message>,
        in_flight: &Arc<Semaphore>,
    ) -> bool {
        let send = |reply: String| {
            let out = out.clone();
            async move {
                let _ = out.send(Message::Text(reply.into())).await;
            }
        };
        let inbound = match parse_frame(text) {
            Ok(inbound) => inbound,
            Err(e) => {
                // Without a messageId it cannot be answered; DingTalk pushes it again.
                tracing::warn!(error = %e, "unreadable Stream frame");
                return false;
            }
        };
        match inbound {
            Inbound::Ping { message_id, data } => send(ack(&message_id, 200, &data)).await,
            Inbound::Disconnect { message_id, reason } => {
                tracing::info!(reason, "the Stream gateway will close this connection");
                if !message_id.is_empty() {
                    send(ack(
                        &message_id,
                        200,
                        &json!({ "reason": reason }).to_string(),
                    ))
                    .await;
                }
                return true;
            }
            Inbound::Event {
                message_id,
                event_type,
                event_id,
                data,
            } => match in_flight.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (inbox, out) = (self.inbox.clone(), out.clone());
                    tokio::spawn(async move {
                        let rows = event_rows(&event_type, &event_id, &message_id, &data);
                        let status = match inbox.store(rows).await {
                            Ok(()) => {
                                metrics::arrived("stream", "stored", "");
                                EventStatus::Success
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, event_type, "Stream event not stored; DingTalk will push it again");
                                metrics::arrived("stream", "later", "unavailable");
                                EventStatus::Later
                            }
                        };
                        let _ = out
                            .send(Message::Text(event_ack(&message_id, status).into()))
                            .await;
                        drop::<OwnedSemaphorePermit>(permit);
                    });
                }
                Err(_) => {
                    tracing::debug!("Stream frames in flight at the limit; answering LATER");
                    metrics::arrived("stream", "later", "busy");
                    send(event_ack(&message_id, EventStatus::Later)).await;
                }
            },
            Inbound::Callback {
                message_id,
                topic,
                data,
            } if topic == ROBOT_TOPIC || topic == CARD_TOPIC => {
                match in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let row = match topic == ROBOT_TOPIC {
                            true => robot_message_row(&self.settings, &data),
                            false => card_press_row(&self.settings, &message_id, &data),
                        };
                        let (inbox, out) = (self.inbox.clone(), out.clone());
                        tokio::spawn(async move {
                            let reply = store_callback(&inbox, row, &message_id).await;
                            let _ = out.send(Message::Text(reply.into())).await;
                            drop::<OwnedSemaphorePermit>(permit);
                        });
                    }
                    Err(_) => send(ack(&message_id, 500, "{\"response\":null}")).await,
                }
            }
            Inbound::Callback {
                message_id, topic, ..
            } => {
                tracing::debug!(topic, "Stream callback on a topic jifen does not serve");
                send(ack(&message_id, 404, "{}")).await;
            }
            Inbound::Unknown { message_id, what } => {
                tracing::debug!(what, "Stream frame of a kind jifen does not know");
                if !message_id.is_empty() {
                    send(ack(&message_id, 404, "{}")).await;
                }
            }
        }
        false
    }
}

/// A robot message's row, once it names this robot and organisation.
fn robot_message_row(s: &StreamSettings, data: &str) -> Result<NewInboxRow, String> {
    robot_row(
        data.as_bytes(),
        s.robot_code.as_deref(),
        s.corp_id.as_deref(),
        Timestamp::now(),
    )
    .map(|mut row| {
        row.source = "stream".into();
        row
    })
    .map_err(|e| e.to_string())
}

/// A card press's row, keyed by the frame: a redelivery of it changes nothing.
fn card_press_row(s: &StreamSettings, message_id: &str, data: &str) -> Result<NewInboxRow, String> {
    let press = parse_press(data).map_err(|e| e.to_string())?;
    if let Some(ours) = &s.corp_id
        && press.corp_id.as_ref().is_some_and(|corp| corp != ours)
    {
        return Err("the press is from another organisation".into());
    }
    Ok(NewInboxRow {
        dedup_key: format!("card:{}:{message_id}", press.out_track_id),
        source: "stream".into(),
        event_type: CARD_CALLBACK.into(),
        payload: data.to_string(),
        ignored: None,
        received_at: Timestamp::now(),
    })
}

/// Stores a callback's row and says what to answer: 200 once stored (or when it is refused
/// for good, since pushing it again changes nothing), 500 when the inbox cannot take it now.
async fn store_callback(
    inbox: &InboxWriter,
    row: Result<NewInboxRow, String>,
    message_id: &str,
) -> String {
    let row = match row {
        Ok(row) => row,
        Err(reason) => {
            tracing::warn!(reason, "Stream callback refused");
            metrics::arrived("stream", "refused", "bad_body");
            return callback_ack(message_id, Value::Null);
        }
    };
    let event_type = row.event_type.clone();
    match inbox.store(vec![row]).await {
        Ok(()) => {
            metrics::arrived("stream", "stored", "");
            // A press is answered by updating its card, not in this reply.
            let response = match event_type == CARD_CALLBACK {
                true => json!({}),
                false => Value::Null,
            };
            callback_ack(message_id, response)
        }
        Err(e) => {
            tracing::warn!(error = %e, event_type, "Stream callback not stored");
            metrics::arrived("stream", "later", "unavailable");
            ack(message_id, 500, &json!({ "response": null }).to_string())
        }
    }
}

/// Exponential, capped, with up to a quarter more at random so replicas spread out.
fn backoff(s: &StreamSettings, attempt: u32) -> Duration {
    let doubled = s
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let wait = doubled.min(s.backoff_max);
    wait + wait.mul_f64(rand::thread_rng().gen_range(0.0..0.25))
}

/// An event frame's inbox rows, keyed as the same event by HTTP would be. One that cannot
/// be read is kept, visibly ignored, rather than pushed again forever.
fn event_rows(event_type: &str, event_id: &str, message_id: &str, data: &str) -> Vec<NewInboxRow> {
    let now = Timestamp::now();
    let parsed = event_plaintext(event_type, data)
        .map_err(|e| e.to_string())
        .and_then(|plaintext| parse_message(&plaintext).map_err(|e| e.to_string()));
    match parsed {
        Ok(Parsed::Events(events)) => events
            .into_iter()
            .map(|e| NewInboxRow {
                dedup_key: e.dedup_key,
                source: "stream".into(),
                event_type: e.event_type,
                payload: e.payload,
                ignored: e.ignored,
                received_at: now,
            })
            .collect(),
        Ok(Parsed::UrlCheck) => Vec::new(),
        Err(why) => {
            let id = if event_id.is_empty() {
                message_id
            } else {
                event_id
            };
            vec![NewInboxRow {
                dedup_key: format!("raw:stream:{id}"),
                source: "stream".into(),
                event_type: event_type.chars().filter(|c| !c.is_control()).collect(),
                payload: data.to_string(),
                ignored: Some(format!("unreadable Stream event: {why}")),
                received_at: now,
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames_become_the_rows_an_http_callback_would() {
        let approval =
            r#"{"processInstanceId":"p1","type":"finish","result":"agree","staffId":"u1"}"#;
        let rows = event_rows("bpms_instance_change", "e1", "m1", approval);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].dedup_key, "bpms_instance:p1:finish:agree");
        assert_eq!(
            (rows[0].source.as_str(), rows[0].ignored.as_deref()),
            ("stream", None)
        );
        let checks = r#"{"DataList":[{"bizId":"b1","userId":"u1","checkTime":1},{"bizId":"b2","userId":"u1","checkTime":2}]}"#;
        let keys: Vec<String> = event_rows("attendance_check_record", "e2", "m2", checks)
            .into_iter()
            .map(|r| r.dedup_key)
            .collect();
        assert_eq!(keys, ["attendance:b1", "attendance:b2"]);
        for (data, key) in [("not json", "raw:stream:e3"), ("[1,2]", "raw:stream:e3")] {
            let rows = event_rows("bpms_instance_change", "e3", "m3", data);
            assert_eq!(rows[0].dedup_key, key);
            assert!(rows[0].ignored.as_deref().unwrap().contains("unreadable"));
        }
        let rows = event_rows("bpms_instance_change", "", "m4", "nope");
        assert_eq!(
            rows[0].dedup_key, "raw:stream:m4",
            "no eventId: the messageId"
        );
    }

    #[test]
    fn a_card_press_is_keyed_by_its_card_and_frame_and_refused_from_elsewhere() {
        let settings = StreamSettings {
            corp_id: Some("ding5dc72c2d8e4ff80b35c2f4657eb6378f".into()),
            ..StreamSettings::default()
        };
        let press = |corp: &str| {
            format!(
                r#"{{"outTrackId":"honor-1","userId":"u1","corpId":"{corp}","content":"{{\"cardPrivateData\":{{\"actionIds\":[\"like\"]}}}}"}}"#
            )
        };
        let row = card_press_row(
            &settings,
            "m1",
            &press("ding5dc72c2d8e4ff80b35c2f4657eb6378f"),
        )
        .unwrap();
        assert_eq!(
            (row.dedup_key.as_str(), row.event_type.as_str()),
            ("card:honor-1:m1", CARD_CALLBACK)
        );
        let cases = [
            (press("dingOther"), "another organisation"),
            ("{}".to_string(), "outTrackId"),
            ("not json".to_string(), "not JSON"),
        ];
        for (data, says) in cases {
            let e = card_press_row(&settings, "m2", &data).unwrap_err();
            assert!(e.contains(says), "{data}: {e}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_some_jitter() {
        let settings = StreamSettings::default();
        for (attempt, low) in [(1, 1), (2, 2), (3, 4), (7, 60), (30, 60)] {
            let wait = backoff(&settings, attempt);
            let low = Duration::from_secs(low);
            assert!(
                wait >= low && wait <= low.mul_f64(1.25),
                "{attempt}: {wait:?}"
            );
        }
    }
}
