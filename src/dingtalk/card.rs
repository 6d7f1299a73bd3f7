//! Interactive cards (互动卡片, PROTOCOL.md §c and §e): where a card is delivered (its
//! `openSpaceId`) and what a button press says (the card callback's `data`). Pure, so the
//! client, the Stream path, the bot and the emulator read cards the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The inbox's event type for a button press.
pub const CARD_CALLBACK: &str = "card_callback";

const SPACE_PREFIX: &str = "dtv1.card//";

/// Somewhere a card is delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum CardSpace {
    /// A group chat, by its openConversationId (`cid…`), through the robot.
    Group(String),
    /// One person's chat with the robot, by userid.
    Robot(String),
}

impl CardSpace {
    fn kind(&self) -> &'static str {
        match self {
            CardSpace::Group(_) => "IM_GROUP",
            CardSpace::Robot(_) => "IM_ROBOT",
        }
    }

    fn id(&self) -> &str {
        match self {
            CardSpace::Group(id) | CardSpace::Robot(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("openSpaceId must be {SPACE_PREFIX}TYPE.id joined by ';', found {0:?}")]
    BadSpace(String),
    #[error("the card callback is not JSON of DingTalk's shape: {0}")]
    NotACallback(String),
    #[error("the card callback has no {0}")]
    Missing(&'static str),
}

/// `dtv1.card//IM_GROUP.cid…;IM_ROBOT.userid`.
pub fn open_space_id(spaces: &[CardSpace]) -> String {
    let parts: Vec<String> = spaces
        .iter()
        .map(|s| format!("{}.{}", s.kind(), s.id()))
        .collect();
    format!("{SPACE_PREFIX}{}", parts.join(";"))
}

/// The spaces an `openSpaceId` names; a type other than a group or a robot chat is refused.
pub fn parse_open_space_id(text: &str) -> Result<Vec<CardSpace>, CardError> {
    let bad = || CardError::BadSpace(text.chars().take(120).collect());
    let rest = text.strip_prefix(SPACE_PREFIX).ok_or_else(bad)?;
    rest.split(';')
        .map(|part| match part.split_once('.') {
            Some(("IM_GROUP", id)) if !id.is_empty() => Ok(CardSpace::Group(id.into())),
            Some(("IM_ROBOT", id)) if !id.is_empty() => Ok(CardSpace::Robot(id.into())),
            _ => Err(bad()),
        })
        .collect()
}

/// A button press on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub out_track_id: String,
    /// Who pressed it.
    pub userid: String,
    pub corp_id: Option<String>,
    /// The button's `params.action`, else its action id.
    pub action: String,
    pub params: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackData {
    out_track_id: Option<String>,
    user_id: Option<String>,
    corp_id: Option<String>,
    /// A JSON text: `{"cardPrivateData":{"actionIds":[…],"params":{…}}}`.
    #[serde(default)]
    content: String,
}

/// Reads a card callback's `data`.
pub fn parse_press(data: &str) -> Result<Press, CardError> {
    let callback: CallbackData =
        serde_json::from_str(data).map_err(|e| CardError::NotACallback(e.to_string()))?;
    let present =
        |v: Option<String>, what| v.filter(|s| !s.is_empty()).ok_or(CardError::Missing(what));
    let out_track_id = present(callback.out_track_id, "outTrackId")?;
    let userid = present(callback.user_id, "userId")?;
    let content: Value = serde_json::from_str(&callback.content).unwrap_or(Value::Null);
    let private = &content["cardPrivateData"];
    let params: BTreeMap<String, String> = private["params"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    let action = params
        .get("action")
        .cloned()
        .or_else(|| private["actionIds"][0].as_str().map(str::to_string))
        .filter(|a| !a.is_empty())
        .ok_or(CardError::Missing("action (params.action or actionIds)"))?;
    Ok(Press {
        out_track_id,
        userid,
        corp_id: callback.corp_id,
        action,
        params,
    })
}

/// The `data` DingTalk sends for `press` in `space_id`: what the emulator pushes.
pub fn press_data(press: &Press, space_id: &str) -> String {
    let mut params: Map<String, Value> = press
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    params.insert("action".into(), json!(press.action));
    let content = json!({"cardPrivateData": {"actionIds": [press.action], "params": params}});
    json!({
        "outTrackId": press.out_track_id,
        "corpId": press.corp_id,
        "userId": press.userid,
        "userIdType": 1,
        "type": "actionCallback",
        "spaceType": "IM",
        "spaceId": space_id,
        "extension": json!({"requestFrom": "card"}).to_string(),
        "content": content.to_string(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dingtalk/stream-callback-card.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_captured_card_callback_reads_as_a_press() {
        let f = fixture();
        let press = parse_press(f["frame"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(
            press.out_track_id,
            "points-Yx3kR8vNTm2qLwZ5pH7sAg03821716185263"
        );
        assert_eq!(press.userid, "manager4220");
        assert_eq!(
            press.action, "approve",
            "params.action before the action id"
        );
        assert_eq!(press.params["points"], "50");
        assert_eq!(
            press.corp_id.as_deref(),
            Some("ding5dc72c2d8e4ff80b35c2f4657eb6378f")
        );
    }

    #[test]
    fn the_emulators_press_has_the_captured_keys_and_reads_back() {
        let f = fixture();
        let captured: Value = serde_json::from_str(f["frame"]["data"].as_str().unwrap()).unwrap();
        let press = Press {
            out_track_id: "honor-20261116-1a2b".into(),
            userid: "281826612426286785".into(),
            corp_id: Some("ding5dc72c2d8e4ff80b35c2f4657eb6378f".into()),
            action: "my_place".into(),
            params: BTreeMap::new(),
        };
        let data = press_data(&press, "cidqE8f3kVb2T9nR5sLwZ7hYg==");
        let ours: Value = serde_json::from_str(&data).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&captured));
        let back = parse_press(&data).unwrap();
        assert_eq!(back.action, "my_place");
        assert_eq!(back.params["action"], "my_place");
        assert_eq!(back.userid, press.userid);
    }

    #[test]
    fn callbacks_without_what_a_press_needs_are_refused() {
        let cases = [
            ("not json", "not JSON"),
            (r#"{"userId":"u1","content":"{}"}"#, "outTrackId"),
            (r#"{"outTrackId":"c1","content":"{}"}"#, "userId"),
            (
                r#"{"outTrackId":"c1","userId":"u1","content":"{}"}"#,
                "action",
            ),
            (
                r#"{"outTrackId":"c1","userId":"u1","content":"{\"cardPrivateData\":{\"actionIds\":[\"\"]}}"}"#,
                "action",
            ),
        ];
        for (data, says) in cases {
            let e = parse_press(data).unwrap_err();
            assert!(e.to_string().contains(says), "{data}: {e}");
        }
        let only_id = r#"{"outTrackId":"c1","userId":"u1","content":"{\"cardPrivateData\":{\"actionIds\":[\"like\"],\"params\":{\"n\":2}}}"}"#;
        let press = parse_press(only_id).unwrap();
        assert_eq!(
            (press.action.as_str(), press.params["n"].as_str()),
            ("like", "2")
        );
    }

    #[test]
    fn open_space_ids_round_trip_and_refuse_other_spaces() {
        let spaces = [
            CardSpace::Group("cidqE8f3kVb2T9nR5sLwZ7hYg==".into()),
            CardSpace::Robot("281826612426286785".into()),
        ];
        let id = open_space_id(&spaces);
        assert_eq!(
            id,
            "dtv1.card//IM_GROUP.cidqE8f3kVb2T9nR5sLwZ7hYg==;IM_ROBOT.281826612426286785"
        );
        assert_eq!(parse_open_space_id(&id).unwrap(), spaces);
        for bad in [
            "IM_GROUP.cid1",
            "dtv1.card//",
            "dtv1.card//ONE_BOX.u1",
            "dtv1.card//IM_GROUP.",
        ] {
            assert!(parse_open_space_id(bad).is_err(), "{bad}");
        }
    }
}
