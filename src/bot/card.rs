//! Interactive cards the robot answers with, and button presses on them, answered by
//! updating the card in place. The honor board's `my_place` shows whoever pressed it their
//! own places (private data, which only they see) and `like` counts one 点赞 per person; a
//! leaderboard card, sent to a group for `排行` when its template is set, has `my_place` and
//! `refresh` (the board as it stands now). Like a robot reply, the update commits with the
//! inbox row, so a redelivered press changes nothing.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::command::{Command, Lang, Question, parse};
use super::{Bot, BotError, Handled, text};
use crate::dingtalk::card::{CardSpace, Press, parse_press};
use crate::dingtalk::robot::RobotMessage;
use crate::honor::{HONOR_CARD, LIKE, LIKED_PARAM, LIKES_PARAM, MY_PLACE, MY_PLACE_PARAM};
use crate::leaderboard::{BoardQuery, LeaderboardError, PersonRow, Window};
use crate::outbox::{CARD, CARD_UPDATE, CardPush, CardRefresh};
use crate::store::{Card, NewOutboxRow};

/// The kind of card a leaderboard is, in the cards table.
pub const LEADERBOARD_CARD: &str = "leaderboard";
/// The leaderboard card's button that shows the board as it stands now.
pub const REFRESH: &str = "refresh";
/// People on a leaderboard card.
const CARD_TOP: usize = 10;

/// What a leaderboard card shows: a window, of the company or one department, in the
/// language it was asked in. Kept in the cards table as `zh:month` or `en:week|575401962`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    window: Window,
    department: Option<String>,
    lang: Lang,
}

impl Scope {
    fn key(&self) -> String {
        let lang = self.lang.pick("zh", "en");
        match &self.department {
            Some(d) => format!("{lang}:{}|{d}", self.window.name()),
            None => format!("{lang}:{}", self.window.name()),
        }
    }

    fn parse(key: &str) -> Option<Scope> {
        let (lang, rest) = key.split_once(':')?;
        let lang = match lang {
            "zh" => Lang::Zh,
            "en" => Lang::En,
            _ => return None,
        };
        let (window, department) = match rest.split_once('|') {
            Some((w, d)) => (w, Some(d.to_string())),
            None => (rest, None),
        };
        Some(Scope {
            window: window.parse().ok()?,
            department,
            lang,
        })
    }
}

/// The leaderboard card's variables (manifest/app.toml names them for its template).
pub fn leaderboard_params(
    title: &str,
    rows: &[PersonRow],
    updated: &str,
    lang: Lang,
) -> BTreeMap<String, String> {
    let board = match rows.is_empty() {
        true => lang.pick("还没有人上榜", "nobody yet").to_string(),
        false => rows
            .iter()
            .map(|r| format!("{}. {} **{}**", r.rank, r.name, r.points))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    [
        ("title", title.to_string()),
        ("board", board),
        ("updated", updated.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// What a press is decided as before its transaction: an answer, or a like, which is decided
/// inside it.
enum Planned {
    Ready(Answer),
    Like(Card),
}

use Planned::{Like, Ready};

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
        // Places are read before the transaction opens, so no lock waits on the boards; only
        // a like is decided inside it.
        let planned = match self.store.card(&press.out_track_id).await? {
            Some(card) if card.kind == LEADERBOARD_CARD => {
                Ready(self.leaderboard_press(&card, &press, inbox_id, now).await?)
            }
            Some(card) if card.kind == HONOR_CARD => match press.action.as_str() {
                MY_PLACE => Ready(self.my_place(&card, &press, inbox_id, now).await?),
                LIKE => Like(card),
                other => Ready(Answer::Nothing(format!("the card has no button {other:?}"))),
            },
            Some(card) => Ready(Answer::Nothing(format!(
                "a {} card has no buttons",
                card.kind
            ))),
            None => Ready(Answer::Nothing(format!(
                "card {} is not one jifen sent",
                press.out_track_id
            ))),
        };
        let mut tx = self.store.begin().await?;
        let answer = match planned {
            Ready(answer) => answer,
            Like(card) => match tx.like_card(&card.out_track_id, &press.userid, now).await? {
                true => Answer::Update {
                    key: format!("card:{}:like:{}", card.out_track_id, press.userid),
                    refresh: CardRefresh {
                        out_track_id: card.out_track_id,
                        private: private(&press.userid, LIKED_PARAM, "true"),
                        likes_param: Some(LIKES_PARAM.into()),
                        ..CardRefresh::default()
                    },
                },
                false => Answer::Nothing(format!("{} liked it before", press.userid)),
            },
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

    /// A leaderboard card for `排行` asked in a group, when its template is set: the board,
    /// and buttons for one's own place and a refresh. `None` when the message is anything
    /// else, for the ordinary answer.
    pub(super) async fn leaderboard_card(
        &self,
        inbox_id: i64,
        message: &RobotMessage,
        now: Timestamp,
    ) -> Result<Option<Handled>, BotError> {
        let Some(template) = &self.settings.leaderboard_card else {
            return Ok(None);
        };
        let typed = message.typed_text().unwrap_or("");
        let Ok(Command::Ask(Question::Rank { window, department })) =
            parse(typed, &message.mentioned())
        else {
            return Ok(None);
        };
        let group = message.conversation_id.as_str();
        let userid = message.sender_staff_id.as_deref().unwrap_or("");
        if !message.in_group() || !group.starts_with("cid") || userid.is_empty() {
            return Ok(None);
        }
        let Some(me) = self.store.employee(userid).await? else {
            return Ok(None);
        };
        let department = match (department, me.departments.first()) {
            (false, _) => None,
            (true, Some(d)) => Some(d.clone()),
            // The ordinary answer says why there is no department board.
            (true, None) => return Ok(None),
        };
        let scope = Scope {
            window,
            department,
            lang: Lang::of(typed),
        };
        let params = self.leaderboard_now(&scope, now).await?;
        let out_track_id = format!("rank-{}", message.msg_id);
        let mut tx = self.store.begin().await?;
        if !tx.complete_inbox(inbox_id, None, now).await? {
            return Ok(Some(Handled::Superseded));
        }
        tx.record_card(&Card {
            out_track_id: out_track_id.clone(),
            kind: LEADERBOARD_CARD.into(),
            space: group.to_string(),
            period: scope.key(),
            created_at: now,
        })
        .await?;
        let push = CardPush {
            template_id: template.clone(),
            out_track_id,
            params,
            spaces: vec![CardSpace::Group(group.to_string())],
        };
        tx.enqueue_outbox(&NewOutboxRow {
            dedup_key: format!("reply:{}", message.msg_id),
            channel: CARD.into(),
            recipient: group.to_string(),
            payload: serde_json::json!(push),
            due_at: now,
            created_at: now,
        })
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Some(Handled::Answered))
    }

    /// The board of `scope` now, as the card's variables.
    async fn leaderboard_now(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<BTreeMap<String, String>, BotError> {
        let lang = scope.lang;
        let scope_name = match &scope.department {
            Some(id) => Some(super::handlers::department_name(self, id).await?),
            None => None,
        };
        let board = self
            .leaderboard
            .people(
                &BoardQuery {
                    window: scope.window,
                    period: None,
                    department: scope.department.clone(),
                    limit: CARD_TOP,
                },
                None,
                now,
            )
            .await?;
        let title = text::rank_title(lang, scope.window, scope_name.as_deref());
        let updated = now
            .to_zoned(self.calendar.time_zone().clone())
            .strftime("%m-%d %H:%M")
            .to_string();
        Ok(leaderboard_params(&title, &board.top, &updated, lang))
    }

    async fn leaderboard_press(
        &self,
        card: &Card,
        press: &Press,
        inbox_id: i64,
        now: Timestamp,
    ) -> Result<Answer, BotError> {
        let Some(scope) = Scope::parse(&card.period) else {
            return Ok(Answer::Nothing(format!(
                "card {} shows {:?}, which is not a board",
                card.out_track_id, card.period
            )));
        };
        let key = format!("card:{}:press:{inbox_id}", card.out_track_id);
        let refresh = match press.action.as_str() {
            REFRESH => CardRefresh {
                out_track_id: card.out_track_id.clone(),
                params: self.leaderboard_now(&scope, now).await?,
                ..CardRefresh::default()
            },
            MY_PLACE => {
                let me = self
                    .place_of(
                        &press.userid,
                        scope.window,
                        None,
                        scope.department.clone(),
                        now,
                    )
                    .await?;
                let place = match scope.lang {
                    Lang::Zh => place_zh(me.as_ref()),
                    Lang::En => place_en(me.as_ref()),
                };
                CardRefresh {
                    out_track_id: card.out_track_id.clone(),
                    private: private(&press.userid, MY_PLACE_PARAM, &place),
                    ..CardRefresh::default()
                }
            }
            other => return Ok(Answer::Nothing(format!("the card has no button {other:?}"))),
        };
        Ok(Answer::Update { key, refresh })
    }

    /// The presser's place in the card's week and in the week now, for their eyes only.
    async fn my_place(
        &self,
        card: &Card,
        press: &Press,
        inbox_id: i64,
        now: Timestamp,
    ) -> Result<Answer, BotError> {
        let userid = &press.userid;
        let then = self
            .place_of(userid, Window::Week, Some(card.period.clone()), None, now)
            .await?;
        let this_week = self.place_of(userid, Window::Week, None, None, now).await?;
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

    /// `userid`'s place on a board; `None` when they are not ranked on it.
    async fn place_of(
        &self,
        userid: &str,
        window: Window,
        period: Option<String>,
        department: Option<String>,
        now: Timestamp,
    ) -> Result<Option<PersonRow>, LeaderboardError> {
        let query = BoardQuery {
            window,
            period,
            department,
            limit: 0,
        };
        Ok(self.leaderboard.people(&query, Some(userid), now).await?.me)
    }
}

fn place_zh(p: Option<&PersonRow>) -> String {
    match p {
        Some(p) => format!("第 {} 名 {:+}", p.rank, p.points),
        None => "未上榜".to_string(),
    }
}

fn place_en(p: Option<&PersonRow>) -> String {
    match p {
        Some(p) => format!("#{} {:+}", p.rank, p.points),
        None => "not ranked".to_string(),
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
    format!(
        "榜单当周：{} · 本周：{} / That week {} · this week {}",
        place_zh(then),
        place_zh(now),
        place_en(then),
        place_en(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaderboard_cards_scope_is_kept_and_read_back() {
        for scope in [
            Scope {
                window: Window::Month,
                department: None,
                lang: Lang::Zh,
            },
            Scope {
                window: Window::Week,
                department: Some("575401962".into()),
                lang: Lang::En,
            },
        ] {
            assert_eq!(Scope::parse(&scope.key()), Some(scope));
        }
        for bad in ["month", "zh:fortnight", "fr:month"] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
    }

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
