//! Appeals against entries: filed once per entry (a unique key, so two at once file one),
//! decided once (an update conditional on the appeal still being open).

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, sql};
use super::rows::millis;
use crate::domain::{Appeal, AppealStatus};

/// A decision on an open appeal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealDecision<'a> {
    pub id: i64,
    pub status: AppealStatus,
    pub decided_by: &'a str,
    pub note: Option<&'a str>,
    pub compensation_entry: Option<i64>,
    pub at: Timestamp,
}

#[async_trait]
pub trait AppealStore: Send + Sync {
    async fn appeal(&self, id: i64) -> Result<Option<Appeal>, StoreError>;
    /// Appeals, newest first: one person's, or in one status, or all.
    async fn appeals(
        &self,
        userid: Option<&str>,
        status: Option<AppealStatus>,
        limit: i64,
    ) -> Result<Vec<Appeal>, StoreError>;
}

#[async_trait]
pub trait AppealTx: Send {
    /// Files an appeal; `None` when the entry was appealed before.
    async fn insert_appeal(
        &mut self,
        entry_id: i64,
        userid: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<Option<Appeal>, StoreError>;
    async fn appeal_of_entry(&mut self, entry_id: i64) -> Result<Option<Appeal>, StoreError>;
    /// The appeal, locked against another decision until commit.
    async fn lock_appeal(&mut self, id: i64) -> Result<Option<Appeal>, StoreError>;
    /// Decides an open appeal; false when it was decided already.
    async fn decide_appeal(&mut self, decision: &AppealDecision<'_>) -> Result<bool, StoreError>;
}

const APPEAL_SELECT: &str = "SELECT id, entry_id, userid, reason, status, decided_by, \
     decision_note, compensation_entry, created_at, decided_at FROM appeals";

#[derive(sqlx::FromRow)]
struct AppealRow {
    id: i64,
    entry_id: i64,
    userid: String,
    reason: String,
    status: String,
    decided_by: Option<String>,
    decision_note: Option<String>,
    compensation_entry: Option<i64>,
    created_at: i64,
    decided_at: Option<i64>,
}

impl TryFrom<AppealRow> for Appeal {
    type Error = StoreError;

    fn try_from(r: AppealRow) -> Result<Appeal, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("appeal {}: {what}", r.id));
        let time = |ms: i64| millis(ms).ok_or_else(|| corrupt("time out of range"));
        Ok(Appeal {
            status: AppealStatus::parse(&r.status).ok_or_else(|| corrupt("unknown status"))?,
            created_at: time(r.created_at)?,
            decided_at: r.decided_at.map(time).transpose()?,
            id: r.id,
            entry_id: r.entry_id,
            userid: r.userid,
            reason: r.reason,
            decided_by: r.decided_by,
            decision_note: r.decision_note,
            compensation_entry: r.compensation_entry,
        })
    }
}

#[async_trait]
impl<B: SqlBackend> AppealStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn appeal(&self, id: i64) -> Result<Option<Appeal>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!("{APPEAL_SELECT} WHERE id = $1");
        let row: Option<AppealRow> = B::Db::fetch_optional(&mut c, sql(&text).arg(id)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn appeals(
        &self,
        userid: Option<&str>,
        status: Option<AppealStatus>,
        limit: i64,
    ) -> Result<Vec<Appeal>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!(
            "{APPEAL_SELECT} WHERE ($1 IS NULL OR userid = $1) \
             AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<AppealRow> = B::Db::fetch_all(
            &mut c,
            sql(&text)
                .arg(userid)
                .arg(status.map(AppealStatus::as_str))
                .arg(limit),
        )
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

#[async_trait]
impl<DB: Dialect> AppealTx for SqlTx<DB> {
    #[instrument(level = "debug", skip(self, reason))]
    async fn insert_appeal(
        &mut self,
        entry_id: i64,
        userid: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<Option<Appeal>, StoreError> {
        let row: Option<(i64,)> = DB::fetch_optional(
            &mut self.tx,
            sql(
                "INSERT INTO appeals (entry_id, userid, reason, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (entry_id) DO NOTHING RETURNING id",
            )
            .arg(entry_id)
            .arg(userid)
            .arg(reason)
            .arg(at.as_millisecond()),
        )
        .await?;
        match row {
            None => Ok(None),
            Some((id,)) => self.lock_appeal(id).await,
        }
    }

    #[instrument(level = "debug", skip(self))]
    async fn appeal_of_entry(&mut self, entry_id: i64) -> Result<Option<Appeal>, StoreError> {
        let text = format!("{APPEAL_SELECT} WHERE entry_id = $1");
        let row: Option<AppealRow> =
            DB::fetch_optional(&mut self.tx, sql(&text).arg(entry_id)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn lock_appeal(&mut self, id: i64) -> Result<Option<Appeal>, StoreError> {
        let text = format!("{APPEAL_SELECT} WHERE id = $1{}", DB::ROW_LOCK);
        let row: Option<AppealRow> = DB::fetch_optional(&mut self.tx, sql(&text).arg(id)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn decide_appeal(&mut self, d: &AppealDecision<'_>) -> Result<bool, StoreError> {
        let n = DB::execute(
            &mut self.tx,
            sql(
                "UPDATE appeals SET status = $2, decided_by = $3, decision_note = $4, \
                 compensation_entry = $5, decided_at = $6 WHERE id = $1 AND status = 'open'",
            )
            .arg(d.id)
            .arg(d.status.as_str())
            .arg(d.decided_by)
            .arg(d.note)
            .arg(d.compensation_entry)
            .arg(d.at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }
}
