//! HR's review queue: entries held for review with their evidence, approved or rejected with
//! a reason through the robot's own checks (`Bot::act`: HR only, never one's own award,
//! audited), so the page and the chat cannot disagree.

use super::home::{Line, actor_names};
use crate::domain::Lang;
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
