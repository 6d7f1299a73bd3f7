//! Interactive cards jifen delivered and the 点赞 given on them: a button press names only
//! its card, so what the card shows is kept here, written with the push that sends it.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, fetch_one, sql};
use super::rows::millis;

/// A card, by the outTrackId it was created under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    pub out_track_id: String,
    /// What it shows, e.g. `honor`.
    pub kind: String,
    /// The group it went to.
    pub space: String,
    /// The period it shows, e.g. the first day of the honor board's week.
    pub period: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait CardStore: Send + Sync {
    async fn card(&self, out_track_id: &str) -> Result<Option<Card>, StoreError>;
    /// How many people liked a card.
    async fn card_likes(&self, out_track_id: &str) -> Result<i64, StoreError>;
}

/// Cards and likes, in the transaction of the push or the press they come with.
#[async_trait]
pub trait CardTx: Send {
    /// Records a card; false when one with its outTrackId was recorded before.
    async fn record_card(&mut self, card: &Card) -> Result<bool, StoreError>;
    /// One like of a card by `userid`; false when they liked it before.
    async fn like_card(
        &mut self,
        out_track_id: &str,
        userid: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[derive(sqlx::FromRow)]
struct CardRow {
    out_track_id: String,
    kind: String,
    space: String,
    period: String,
    created_at: i64,
}

#[async_trait]
impl<B: SqlBackend> CardStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn card(&self, out_track_id: &str) -> Result<Option<Card>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row: Option<CardRow> = B::Db::fetch_optional(
            &mut c,
            sql(
                "SELECT out_track_id, kind, space, period, created_at FROM cards \
                 WHERE out_track_id = $1",
            )
            .arg(out_track_id),
        )
        .await?;
        row.map(|r| {
            Ok(Card {
                created_at: millis(r.created_at).ok_or_else(|| {
                    StoreError::Corrupt(format!("card {}: time out of range", r.out_track_id))
                })?,
                out_track_id: r.out_track_id,
                kind: r.kind,
                space: r.space,
                period: r.period,
            })
        })
        .transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn card_likes(&self, out_track_id: &str) -> Result<i64, StoreError> {
        let mut c = self.reader().acquire().await?;
        let (n,): (i64,) = fetch_one::<B::Db, _>(
            &mut c,
            sql("SELECT COUNT(*) FROM card_likes WHERE out_track_id = $1").arg(out_track_id),
        )
        .await?;
        Ok(n)
    }
}

#[async_trait]
impl<DB: Dialect> CardTx for SqlTx<DB> {
    #[instrument(level = "debug", skip_all, fields(card = %card.out_track_id))]
    async fn record_card(&mut self, card: &Card) -> Result<bool, StoreError> {
        let n = DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO cards (out_track_id, kind, space, period, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (out_track_id) DO NOTHING",
            )
            .arg(card.out_track_id.as_str())
            .arg(card.kind.as_str())
            .arg(card.space.as_str())
            .arg(card.period.as_str())
            .arg(card.created_at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn like_card(
        &mut self,
        out_track_id: &str,
        userid: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO card_likes (out_track_id, userid, liked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (out_track_id, userid) DO NOTHING",
            )
            .arg(out_track_id)
            .arg(userid)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }
}
