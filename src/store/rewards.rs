//! Redemptions and the stock they take. Stock is taken by one conditional UPDATE, which
//! both databases evaluate under the row's lock, so the last item goes to one person only.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, fetch_one, sql};
use super::rows::millis;
use crate::domain::{Redemption, RedemptionStatus};

/// A redemption about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRedemption {
    pub source_key: String,
    pub userid: String,
    pub reward_id: String,
    pub reward_name: String,
    pub reward_name_en: String,
    pub cost: i64,
    pub status: RedemptionStatus,
    pub hold_entry: i64,
    pub decided_by: Option<String>,
    pub at: Timestamp,
}

/// A step a redemption took, written only if it is still where the step found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionUpdate<'a> {
    pub id: i64,
    pub from: RedemptionStatus,
    pub to: RedemptionStatus,
    pub decided_by: &'a str,
    pub note: Option<&'a str>,
    pub refund_entry: Option<i64>,
    pub at: Timestamp,
}

#[async_trait]
pub trait RewardStore: Send + Sync {
    async fn redemption(&self, id: i64) -> Result<Option<Redemption>, StoreError>;
    /// Redemptions, newest first: one person's, or in one status, or all.
    async fn redemptions(
        &self,
        userid: Option<&str>,
        status: Option<RedemptionStatus>,
        limit: i64,
    ) -> Result<Vec<Redemption>, StoreError>;
    /// How many of each reward are out (held, approved or fulfilled).
    async fn rewards_out(&self) -> Result<HashMap<String, i64>, StoreError>;
}

/// Redemption writes and the reads they depend on, inside the ledger's transaction.
#[async_trait]
pub trait RewardTx: Send {
    /// Takes one of `reward_id` if fewer than `stock` are out (any number without a
    /// stock); false when none is left.
    async fn take_reward(
        &mut self,
        reward_id: &str,
        stock: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Puts one back, after a refund.
    async fn return_reward(&mut self, reward_id: &str) -> Result<(), StoreError>;
    /// How many of `reward_id` the person has out that were redeemed in `[from, until)`.
    async fn live_redemptions(
        &mut self,
        userid: &str,
        reward_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError>;
    async fn redemption_by_source(
        &mut self,
        source_key: &str,
    ) -> Result<Option<Redemption>, StoreError>;
    /// The redemption, locked against other steps until commit.
    async fn lock_redemption(&mut self, id: i64) -> Result<Option<Redemption>, StoreError>;
    async fn insert_redemption(&mut self, r: &NewRedemption) -> Result<Redemption, StoreError>;
    /// Moves a redemption on; false when it was no longer in `update.from`.
    async fn update_redemption(
        &mut self,
        update: &RedemptionUpdate<'_>,
    ) -> Result<bool, StoreError>;
}

const REDEMPTION_SELECT: &str = "SELECT id, userid, reward_id, reward_name, reward_name_en, \
     cost, status, hold_entry, refund_entry, decided_by, note, created_at, updated_at \
     FROM redemptions";

#[derive(sqlx::FromRow)]
struct RedemptionRow {
    id: i64,
    userid: String,
    reward_id: String,
    reward_name: String,
    reward_name_en: String,
    cost: i64,
    status: String,
    hold_entry: i64,
    refund_entry: Option<i64>,
    decided_by: Option<String>,
    note: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RedemptionRow> for Redemption {
    type Error = StoreError;

    fn try_from(r: RedemptionRow) -> Result<Redemption, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("redemption {}: {what}", r.id));
        Ok(Redemption {
            status: RedemptionStatus::parse(&r.status).ok_or_else(|| corrupt("unknown status"))?,
            created_at: millis(r.created_at).ok_or_else(|| corrupt("time out of range"))?,
            updated_at: millis(r.updated_at).ok_or_else(|| corrupt("time out of range"))?,
            id: r.id,
            userid: r.userid,
            reward_id: r.reward_id,
            reward_name: r.reward_name,
            reward_name_en: r.reward_name_en,
            cost: r.cost,
            hold_entry: r.hold_entry,
            refund_entry: r.refund_entry,
            decided_by: r.decided_by,
            note: r.note,
        })
    }
}

fn converted(rows: Vec<RedemptionRow>) -> Result<Vec<Redemption>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[async_trait]
impl<B: SqlBackend> RewardStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn redemption(&self, id: i64) -> Result<Option<Redemption>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!("{REDEMPTION_SELECT} WHERE id = $1");
        let row: Option<RedemptionRow> = B::Db::fetch_optional(&mut c, sql(&text).arg(id)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn redemptions(
        &self,
        userid: Option<&str>,
        status: Option<RedemptionStatus>,
        limit: i64,
    ) -> Result<Vec<Redemption>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!(
            "{REDEMPTION_SELECT} WHERE ($1 IS NULL OR userid = $1) \
             AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<RedemptionRow> = B::Db::fetch_all(
            &mut c,
            sql(&text)
                .arg(userid)
                .arg(status.map(RedemptionStatus::as_str))
                .arg(limit),
        )
        .await?;
        converted(rows)
    }

    #[instrument(level = "debug", skip(self))]
    async fn rewards_out(&self) -> Result<HashMap<String, i64>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, i64)> =
            B::Db::fetch_all(&mut c, sql("SELECT reward_id, issued FROM reward_stock")).await?;
        Ok(rows.into_iter().collect())
    }
}

#[async_trait]
impl<DB: Dialect> RewardTx for SqlTx<DB> {
    #[instrument(level = "debug", skip(self))]
    async fn take_reward(
        &mut self,
        reward_id: &str,
        stock: Option<i64>,
    ) -> Result<bool, StoreError> {
        DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO reward_stock (reward_id, issued) VALUES ($1, 0) \
                 ON CONFLICT (reward_id) DO NOTHING",
            )
            .arg(reward_id),
        )
        .await?;
        let taken = DB::execute(
            &mut self.tx,
            sql("UPDATE reward_stock SET issued = issued + 1 \
                 WHERE reward_id = $1 AND ($2 IS NULL OR issued < $2)")
            .arg(reward_id)
            .arg(stock),
        )
        .await?;
        Ok(taken == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn return_reward(&mut self, reward_id: &str) -> Result<(), StoreError> {
        let returned = DB::execute(
            &mut self.tx,
            sql("UPDATE reward_stock SET issued = issued - 1 WHERE reward_id = $1 AND issued > 0")
                .arg(reward_id),
        )
        .await?;
        if returned != 1 {
            return Err(StoreError::Corrupt(format!(
                "no {reward_id} is out to be returned"
            )));
        }
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn live_redemptions(
        &mut self,
        userid: &str,
        reward_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "SELECT COUNT(*) FROM redemptions WHERE userid = $1 AND reward_id = $2 \
                 AND created_at >= $3 AND created_at < $4 \
                 AND status IN ('held', 'approved', 'fulfilled')",
            )
            .arg(userid)
            .arg(reward_id)
            .arg(from.as_millisecond())
            .arg(until.as_millisecond()),
        )
        .await?;
        Ok(n)
    }

    #[instrument(level = "debug", skip(self))]
    async fn redemption_by_source(
        &mut self,
        source_key: &str,
    ) -> Result<Option<Redemption>, StoreError> {
        let text = format!("{REDEMPTION_SELECT} WHERE source_key = $1");
        let row: Option<RedemptionRow> =
            DB::fetch_optional(&mut self.tx, sql(&text).arg(source_key)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn lock_redemption(&mut self, id: i64) -> Result<Option<Redemption>, StoreError> {
        let text = format!("{REDEMPTION_SELECT} WHERE id = $1{}", DB::ROW_LOCK);
        let row: Option<RedemptionRow> =
            DB::fetch_optional(&mut self.tx, sql(&text).arg(id)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip_all, fields(userid = %r.userid, reward = %r.reward_id))]
    async fn insert_redemption(&mut self, r: &NewRedemption) -> Result<Redemption, StoreError> {
        let at = r.at.as_millisecond();
        let (id,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "INSERT INTO redemptions (source_key, userid, reward_id, reward_name, \
                 reward_name_en, cost, status, hold_entry, decided_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            )
            .arg(r.source_key.as_str())
            .arg(r.userid.as_str())
            .arg(r.reward_id.as_str())
            .arg(r.reward_name.as_str())
            .arg(r.reward_name_en.as_str())
            .arg(r.cost)
            .arg(r.status.as_str())
            .arg(r.hold_entry)
            .arg(r.decided_by.as_deref())
            .arg(at),
        )
        .await?;
        let at = millis(at).ok_or_else(|| StoreError::Corrupt("time out of range".into()))?;
        Ok(Redemption {
            id,
            userid: r.userid.clone(),
            reward_id: r.reward_id.clone(),
            reward_name: r.reward_name.clone(),
            reward_name_en: r.reward_name_en.clone(),
            cost: r.cost,
            status: r.status,
            hold_entry: r.hold_entry,
            refund_entry: None,
            decided_by: r.decided_by.clone(),
            note: None,
            created_at: at,
            updated_at: at,
        })
    }

    #[instrument(level = "debug", skip(self))]
    async fn update_redemption(&mut self, u: &RedemptionUpdate<'_>) -> Result<bool, StoreError> {
        let n = DB::execute(
            &mut self.tx,
            sql(
                "UPDATE redemptions SET status = $3, decided_by = $4, note = $5, \
                 refund_entry = COALESCE($6, refund_entry), updated_at = $7 \
                 WHERE id = $1 AND status = $2",
            )
            .arg(u.id)
            .arg(u.from.as_str())
            .arg(u.to.as_str())
            .arg(u.decided_by)
            .arg(u.note)
            .arg(u.refund_entry)
            .arg(u.at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }
}
