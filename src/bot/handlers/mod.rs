//! One handler per command family. Questions read and answer; changes act inside the
//! message's transaction and say what they did, or refuse with a [`super::Refusal`].

pub(super) mod adjust;
pub(super) mod appeals;
pub(super) mod audit;
pub(super) mod badge;
pub(super) mod budget;
pub(super) mod challenges;
pub(super) mod export;
pub(super) mod history;
pub(super) mod points;
pub(super) mod rank;
pub(super) mod recognise;
pub(super) mod review;
pub(super) mod revoke;
pub(super) mod shop;

use jiff::Timestamp;

use super::{Bot, BotError};
use crate::leaderboard::{BoardQuery, Window};
use crate::store::{StoreError, StoreTx};

/// A person's all-time place in the company or a department: (rank, how many are ranked);
/// rank 0 when they are not ranked (excluded, or left).
async fn place(
    bot: &Bot,
    userid: &str,
    department: Option<&str>,
    now: Timestamp,
) -> Result<super::text::Place, BotError> {
    let query = BoardQuery {
        window: Window::All,
        period: None,
        department: department.map(str::to_string),
        limit: 0,
    };
    let board = bot.leaderboard.people(&query, Some(userid), now).await?;
    Ok((
        board.me.map_or(0, |m| i64::from(m.rank)),
        board.ranked as i64,
    ))
}

pub(super) async fn department_name(bot: &Bot, id: &str) -> Result<String, BotError> {
    Ok(bot
        .store
        .department(id)
        .await?
        .map_or_else(|| id.to_string(), |d| d.name))
}

/// Whether `roles` reach `userid`: managers act only on people in the departments they
/// manage (and those below), HR admins on anyone.
async fn covers(
    tx: &mut dyn StoreTx,
    roles: &super::roles::Roles,
    userid: &str,
) -> Result<bool, StoreError> {
    Ok(roles.covers(&tx.departments_of(userid).await?))
}
