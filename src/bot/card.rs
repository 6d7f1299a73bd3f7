//! Button presses on the honor board's interactive card, answered by updating the card in
//! place: `my_place` shows whoever pressed it their own places (private data, which only
//! they see), `like` counts one 点赞 per person. Like a robot reply, the update commits with
//! the inbox row, so a redelivered press changes nothing.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Bot, BotError, Handled};
use crate::dingtalk::card::{Press, parse_press};
use crate::honor::{HONOR_CARD, LIKE, LIKED_PARAM, LIKES_PARAM, MY_PLACE, MY_PLACE_PARAM};
use crate::leaderboard::{BoardQuery, LeaderboardError, PersonRow, Window};
use crate::outbox::{CARD_UPDATE, CardRefresh};
use crate::store::{Card, NewOutboxRow};

/// What a press comes to.
enum Answer {
    /// The card changes, once per `key`.
    Update {
        key: String,
        refresh: CardRefresh,
    },
    Nothing(String),
}

impl Bot {
    /// Acts on the card press stored in inbox row `inbox_id`, and completes the row.
    pub async fn handle_card_press(
        &self,
        inbox_id: i64,
        payload: &str,
        now: Timestamp,
    ) -> Result<Handled, BotError> {
        let press = parse_press(payload).map_err(|e| BotError::Malformed(e.to_string()))?;
        // Places are read before the transaction opens, so no lock waits on the boards.
        let (card, answer) = match self.store.card(&press.out_track_id).await? {
            Some(card) if card.kind == HONOR_CARD => {
                let answer = match press.action.as_str() {
                    MY_PLACE => Some(self.my_place(&card, &press, inbox_id, now).await?),
                    LIKE => None,
                    other => Some(Answer::Nothing(format!("the card has no button {other:?}"))),
                };
                (Some(card), answer)
            }
            Some(card) => {
                let why = format!("a {} card has no buttons", card.kind);
                (None, Some(Answer::Nothing(why)))
            }
            None => {
                let why = format!("card {} is not one jifen sent", press.out_track_id);
                (None, Some(Answer::Nothing(why)))
            }
        };
        let mut tx = self.store.begin().await?;
        let answer = match (answer, card) {
            (Some(answer), _) => answer,
            (None, Some(card)) => match tx.like_card(&card.out_track_id, &press.userid, now).await?
            {
                true => Answer::Update {
                    key: format!("card:{}:like:{}", card.out_track_id, press.userid),
                    refresh: CardRefresh {
                        out_track_id: card.out_track_id.clone(),
                        private: private(&press.userid, LIKED_PARAM, "true"),
                        likes_param: Some(LIKES_PARAM.into()),
                        ..CardRefresh::default()
                    },
                },
                false => Answer::Nothing(format!("{} liked it before", press.userid)),
            },
            (None, None) => Answer::Nothing("nothing to do".into()),
        };
        let note = match &answer {
            Answer::Update { .. } => None,
            Answer::Nothing(why) => Some(why.as_str()),
        };
        if !tx.complete_inbox(inbox_id, note, now).await? {
            return Ok(Handled::Superseded);
        }
        let handled = match answer {
            Answer::Update { key, refresh } => {
                tx.enqueue_outbox(&NewOutboxRow {
                    dedup_key: key,
                    channel: CARD_UPDATE.into(),
                    recipient: press.userid.clone(),
                    payload: serde_json::json!(refresh),
                    due_at: now,
                    created_at: now,
                })
                .await?;
                Handled::Answered
            }
            Answer::Nothing(why) => Handled::Ignored(why),
        };
        tx.commit().await?;
        self.wake.notify_one();
        Ok(handled)
    }

    /// The presser's place in the card's week and in the week now, for their eyes only.
    async fn my_place(
        &self,
        card: &Card,
        press: &Press,
        inbox_id: i64,
        now: Timestamp,
    ) -> Result<Answer, BotError> {
        let place = |period: Option<String>| async move {
            let query = BoardQuery {
                window: Window::Week,
                period,
                department: None,
                limit: 0,
            };
            let board = self
                .leaderboard
                .people(&query, Some(&press.userid), now)
                .await?;
            Ok::<_, LeaderboardError>(board.me)
        };
        let then = place(Some(card.period.clone())).await?;
        let this_week = place(None).await?;
        Ok(Answer::Update {
            key: format!("card:{}:press:{inbox_id}", card.out_track_id),
            refresh: CardRefresh {
                out_track_id: card.out_track_id.clone(),
                private: private(
                    &press.userid,
                    MY_PLACE_PARAM,
                    &places_text(then.as_ref(), this_week.as_ref()),
                ),
                ..CardRefresh::default()
            },
        })
    }
}

fn private(userid: &str, name: &str, value: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([(
        userid.to_string(),
        BTreeMap::from([(name.to_string(), value.to_string())]),
    )])
}

/// E.g. "榜单当周：第 3 名 +30 · 本周：第 5 名 +12 / That week #3 +30 · this week #5 +12".
fn places_text(then: Option<&PersonRow>, now: Option<&PersonRow>) -> String {
    let zh = |p: Option<&PersonRow>| match p {
        Some(p) => format!("第 {} 名 {:+}", p.rank, p.points),
        None => "未上榜".to_string(),
    };
    let en = |p: Option<&PersonRow>| match p {
        Some(p) => format!("#{} {:+}", p.rank, p.points),
        None => "not ranked".to_string(),
    };
    format!(
        "榜单当周：{} · 本周：{} / That week {} · this week {}",
        zh(then),
        zh(now),
        en(then),
        en(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_in_both_languages_and_say_when_unranked() {
        let row = |rank, points| PersonRow {
            rank,
            userid: "u1".into(),
            name: "李强".into(),
            points,
        };
        let cases = [
            (
                Some(row(3, 30)),
                Some(row(5, 12)),
                "榜单当周：第 3 名 +30 · 本周：第 5 名 +12 / That week #3 +30 · this week #5 +12",
            ),
            (
                None,
                Some(row(1, -2)),
                "榜单当周：未上榜 · 本周：第 1 名 -2 / That week not ranked · this week #1 -2",
            ),
        ];
        for (then, now, want) in cases {
            assert_eq!(places_text(then.as_ref(), now.as_ref()), want);
        }
    }
}
