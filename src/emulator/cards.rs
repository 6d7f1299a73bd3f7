//! DingTalk's card platform as the emulator plays it (PROTOCOL.md §e, the `newapi-card-*`
//! fixtures): cards created from a template and delivered to groups and robot chats
//! (`POST /v1.0/card/instances/createAndDeliver`), updated in place, shared values by key
//! and private ones per person (`PUT /v1.0/card/instances`), and button presses pushed back
//! as card callbacks over the Stream gateway (`POST /_emulator/cards/press`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::gate::lock;
use super::newapi::{Answer, bad};
use super::org::{APP_KEY, CORP_ID};
use super::params::text;
use super::stream::RecordedAck;
use super::{Emulator, RecordedMessage, Shared};
use crate::dingtalk::card::{CardSpace, Press, parse_open_space_id, press_data};

/// A card as DingTalk holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardInstance {
    pub out_track_id: String,
    pub template_id: String,
    pub spaces: Vec<CardSpace>,
    /// `STREAM` or `HTTP`: where its button presses go.
    pub callback_type: String,
    pub params: BTreeMap<String, String>,
    /// What each person sees of their own, by userid.
    pub private: BTreeMap<String, BTreeMap<String, String>>,
    /// Updates received since it was created.
    pub updates: u32,
}

/// `Dict[str, str]` as the card API takes it: values must be strings.
fn string_map(value: &Value, at: &str) -> Result<BTreeMap<String, String>, String> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("{at}.{k} must be a string")),
            })
            .collect(),
        _ => Err(format!("{at} must be an object of strings")),
    }
}

fn private_maps(value: &Value) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(user, data)| {
                let at = format!("privateData.{user}.cardParamMap");
                Ok((user.clone(), string_map(&data["cardParamMap"], &at)?))
            })
            .collect(),
        _ => Err("privateData must be an object keyed by userid".into()),
    }
}

pub(super) fn create_and_deliver(emu: &Emulator, body: &Value) -> Answer {
    let template_id = text(body, "cardTemplateId")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("cardTemplateId is mandatory".into()))?;
    let out_track_id = text(body, "outTrackId")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("outTrackId is mandatory".into()))?;
    let spaces = parse_open_space_id(text(body, "openSpaceId").unwrap_or_default())
        .map_err(|e| bad(e.to_string()))?;
    let callback_type = text(body, "callbackType").unwrap_or("STREAM");
    if !matches!(callback_type, "STREAM" | "HTTP") {
        return Err(bad("callbackType must be STREAM or HTTP".into()));
    }
    let params =
        string_map(&body["cardData"]["cardParamMap"], "cardData.cardParamMap").map_err(bad)?;
    if body["cardData"].is_null() {
        return Err(bad("cardData is mandatory".into()));
    }
    let private = private_maps(&body["privateData"]).map_err(bad)?;
    let mut results = Vec::new();
    let mut reached = Vec::new();
    for space in &spaces {
        let (kind, id, model) = match space {
            CardSpace::Group(cid) => ("IM_GROUP", cid, "imGroupOpenDeliverModel"),
            CardSpace::Robot(userid) => ("IM_ROBOT", userid, "imRobotOpenDeliverModel"),
        };
        let robot = body[model]["robotCode"].as_str();
        let problem = match space {
            _ if robot.is_none() => Some(format!("{model}.robotCode is mandatory")),
            _ if robot != Some(APP_KEY) => Some("robotCode is not this app's robot".into()),
            CardSpace::Group(cid) if !cid.starts_with("cid") => {
                Some("the group's openConversationId is not a cid…".into())
            }
            CardSpace::Robot(userid) if emu.org.user(userid).is_none() => {
                Some(format!("user {userid} not found"))
            }
            _ => None,
        };
        let carrier = match problem {
            None => {
                reached.push(id.clone());
                format!("{:016x}", rand::random::<u64>())
            }
            Some(_) => String::new(),
        };
        results.push(json!({
            "spaceType": kind,
            "spaceId": id,
            "success": problem.is_none(),
            "errorMsg": problem.unwrap_or_default(),
            "carrierId": carrier,
        }));
    }
    let card = CardInstance {
        out_track_id: out_track_id.to_string(),
        template_id: template_id.to_string(),
        spaces: spaces.clone(),
        callback_type: callback_type.to_string(),
        params,
        private,
        updates: 0,
    };
    let answer = json!({
        "success": true,
        "result": {"outTrackId": out_track_id, "deliverResults": results},
    });
    {
        let mut cards = lock(&emu.cards);
        match cards.get(out_track_id) {
            // The emulator's guess: the same card again is delivered once; another card
            // under the same id is refused.
            Some(known) if known.template_id == card.template_id && known.spaces == spaces => {
                return Ok(answer);
            }
            Some(_) => {
                return Err(bad(format!(
                    "outTrackId {out_track_id} is another card's already"
                )));
            }
            None => {
                cards.insert(out_track_id.to_string(), card.clone());
            }
        }
    }
    if !reached.is_empty() {
        emu.record(RecordedMessage {
            seq: 0,
            at: jiff::Timestamp::now().to_string(),
            channel: "card".into(),
            to: reached,
            forbidden: vec![],
            title: card.params.get("title").cloned().unwrap_or_default(),
            text: serde_json::to_string(&card.params).unwrap_or_default(),
            body: body.clone(),
        });
    }
    Ok(answer)
}

pub(super) fn update(emu: &Emulator, body: &Value) -> Answer {
    let out_track_id = text(body, "outTrackId")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("outTrackId is mandatory".into()))?;
    let params =
        string_map(&body["cardData"]["cardParamMap"], "cardData.cardParamMap").map_err(bad)?;
    let private = private_maps(&body["privateData"]).map_err(bad)?;
    let by_key = |name: &str| body["cardUpdateOptions"][name].as_bool().unwrap_or(false);
    let mut cards = lock(&emu.cards);
    let card = cards
        .get_mut(out_track_id)
        .ok_or_else(|| bad(format!("card {out_track_id} does not exist")))?;
    if !body["cardData"].is_null() {
        if !by_key("updateCardDataByKey") {
            card.params.clear();
        }
        card.params.extend(params);
    }
    for (user, values) in private {
        let mine = card.private.entry(user).or_default();
        if !by_key("updatePrivateDataByKey") {
            mine.clear();
        }
        mine.extend(values);
    }
    card.updates += 1;
    Ok(json!({"success": true, "result": true}))
}

impl Emulator {
    /// Every card created, by outTrackId.
    pub fn cards(&self) -> Vec<CardInstance> {
        lock(&self.cards).values().cloned().collect()
    }

    pub fn card(&self, out_track_id: &str) -> Option<CardInstance> {
        lock(&self.cards).get(out_track_id).cloned()
    }

    /// `userid` presses the button of `action` on a card: its callback is pushed over
    /// Stream until acknowledged; the ACK, or why nothing was pushed.
    pub async fn press_card(
        &self,
        out_track_id: &str,
        userid: &str,
        action: &str,
    ) -> Result<Option<RecordedAck>, String> {
        let card = self
            .card(out_track_id)
            .ok_or_else(|| format!("no card {out_track_id}"))?;
        if card.callback_type != "STREAM" {
            return Err(format!(
                "card {out_track_id} answers by HTTP, which the emulator does not push"
            ));
        }
        if self.org.user(userid).is_none() {
            return Err(format!("no user {userid}"));
        }
        let space_id = match card.spaces.first() {
            Some(CardSpace::Group(id)) | Some(CardSpace::Robot(id)) => id.clone(),
            None => String::new(),
        };
        let press = Press {
            out_track_id: out_track_id.to_string(),
            userid: userid.to_string(),
            corp_id: Some(CORP_ID.to_string()),
            action: action.to_string(),
            params: BTreeMap::new(),
        };
        Ok(self
            .stream_card_callback(press_data(&press, &space_id))
            .await)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct PressRequest {
    out_track_id: String,
    userid: String,
    action: String,
}

/// `GET /_emulator/cards`.
pub(super) async fn list(State(emu): Shared) -> Json<Vec<CardInstance>> {
    Json(emu.cards())
}

/// `POST /_emulator/cards/press` with `{"out_track_id", "userid", "action"}`: the ACK jifen
/// sent, or 404 with why nothing was pushed.
pub(super) async fn press(State(emu): Shared, Json(req): Json<PressRequest>) -> Response {
    match emu
        .press_card(&req.out_track_id, &req.userid, &req.action)
        .await
    {
        Ok(Some(ack)) => {
            Json(json!({"acked": true, "code": ack.code, "data": ack.data})).into_response()
        }
        Ok(None) => Json(json!({"acked": false})).into_response(),
        Err(why) => (StatusCode::NOT_FOUND, Json(json!({"error": why}))).into_response(),
    }
}
