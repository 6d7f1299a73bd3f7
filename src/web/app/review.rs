//! HR's review queue: entries held for review with their evidence, approved or rejected with
//! a reason through the robot's own checks (`Bot::act`: HR only, never one's own award,
//! audited), so the page and the chat cannot disagree; and the redemptions and appeals
//! waiting for HR, the appeals with their age.

use super::home::{Line, actor_names};
use jiff::Timestamp;

use crate::domain::{AppealStatus, Lang, RedemptionStatus};
use crate::store::Store;
use crate::web::ApiError;

/// Entries the queue shows at a time, oldest first.
const QUEUE: i64 = 200;

pub struct Item {
    /// Whose points these are.
    pub person: String,
    pub line: Line,
}

pub async fn queue(
    store: &dyn Store,
    tz: &jiff::tz::TimeZone,
    lang: Lang,
) -> Result<Vec<Item>, ApiError> {
    let pending = store.pending_entries(QUEUE).await?;
    let names = actor_names(store, &pending).await?;
    let name = |userid: &str| {
        names
            .iter()
            .find(|(u, _)| u == userid)
            .map_or_else(|| userid.to_string(), |(_, n)| n.clone())
    };
    Ok(pending
        .iter()
        .map(|e| Item {
            person: name(&e.userid),
            line: Line::with_source(e, lang, tz, &names),
        })
        .collect())
}

/// A redemption waiting for HR: to grant, hand over or refuse.
pub struct OpenRedemption {
    pub id: i64,
    pub person: String,
    pub reward: String,
    pub cost: i64,
    pub status: String,
    /// Still to be granted (else granted, to be handed over).
    pub held: bool,
}

/// An open appeal and how long it has waited.
pub struct OpenAppeal {
    pub id: i64,
    pub person: String,
    pub entry: i64,
    pub reason: String,
    pub age: String,
}

pub async fn open_redemptions(
    store: &dyn Store,
    lang: Lang,
) -> Result<Vec<OpenRedemption>, ApiError> {
    let mut open = store
        .redemptions(None, Some(RedemptionStatus::Held), QUEUE)
        .await?;
    open.extend(
        store
            .redemptions(None, Some(RedemptionStatus::Approved), QUEUE)
            .await?,
    );
    open.sort_by_key(|r| r.id);
    let mut items = Vec::with_capacity(open.len());
    for r in open {
        items.push(OpenRedemption {
            id: r.id,
            person: person(store, &r.userid).await?,
            reward: match lang {
                Lang::Zh => r.reward_name.clone(),
                Lang::En => r.reward_name_en.clone(),
            },
            cost: r.cost,
            status: match lang {
                Lang::Zh => r.status.zh().to_string(),
                Lang::En => r.status.as_str().to_string(),
            },
            held: r.status == RedemptionStatus::Held,
        });
    }
    Ok(items)
}

pub async fn open_appeals(
    store: &dyn Store,
    lang: Lang,
    now: Timestamp,
) -> Result<Vec<OpenAppeal>, ApiError> {
    let mut open = store.appeals(None, Some(AppealStatus::Open), QUEUE).await?;
    open.reverse();
    let mut items = Vec::with_capacity(open.len());
    for a in open {
        items.push(OpenAppeal {
            id: a.id,
            person: person(store, &a.userid).await?,
            entry: a.entry_id,
            reason: a.reason.clone(),
            age: crate::bot::text::appeals::age(lang, a.created_at, now),
        });
    }
    Ok(items)
}

async fn person(store: &dyn Store, userid: &str) -> Result<String, ApiError> {
    Ok(store
        .employee(userid)
        .await?
        .map_or_else(|| userid.to_string(), |e| e.name))
}
