//! Closed periods: when each closed, and the totals frozen then, per person and per
//! department, so a later correction never changes what was archived.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, sql};
use super::rows::millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodClose {
    pub period: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub closed_at: Timestamp,
    pub report: String,
}

const CLOSE_SELECT: &str =
    "SELECT period, starts_at, ends_at, closed_at, report FROM period_closes";

type CloseRow = (String, i64, i64, i64, String);

fn period_close(
    (period, starts, ends, closed, report): CloseRow,
) -> Result<PeriodClose, StoreError> {
    let at = |ms: i64| millis(ms).ok_or_else(|| StoreError::Corrupt(format!("period time {ms}")));
    Ok(PeriodClose {
        period,
        starts_at: at(starts)?,
        ends_at: at(ends)?,
        closed_at: at(closed)?,
        report,
    })
}

/// A person's totals in a closed period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodTotal {
    pub userid: String,
    pub name: String,
    pub score: i64,
    pub balance: i64,
    pub pending: i64,
    pub entries: i64,
}

/// A department's totals in a closed period (its direct members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentTotal {
    pub department_id: String,
    pub name: String,
    pub score: i64,
    pub members: i64,
}

#[async_trait]
pub trait PeriodStore: Send + Sync {
    /// Closes `period` (e.g. `2026-10`): records the close and freezes the totals of the
    /// entries that occurred in [starts_at, ends_at), per person and per department, in one
    /// transaction. False when it was closed already (nothing changes).
    async fn close_period(
        &self,
        period: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        closed_at: Timestamp,
        report: &str,
    ) -> Result<bool, StoreError>;
    async fn period_close(&self, period: &str) -> Result<Option<PeriodClose>, StoreError>;
    /// The latest closed periods, newest first.
    async fn closed_periods(&self, limit: i64) -> Result<Vec<PeriodClose>, StoreError>;
    /// A closed period's frozen totals per person, by userid after `after`.
    async fn period_totals(
        &self,
        period: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<PeriodTotal>, StoreError>;
    async fn period_department_totals(
        &self,
        period: &str,
    ) -> Result<Vec<DepartmentTotal>, StoreError>;
}

#[async_trait]
impl<B: SqlBackend> PeriodStore for B {
    #[instrument(level = "debug", skip(self, report))]
    async fn close_period(
        &self,
        period: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        closed_at: Timestamp,
        report: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin_with(B::Db::BEGIN).await?;
        let closed = B::Db::execute(
            &mut tx,
            sql(
                "INSERT INTO period_closes (period, starts_at, ends_at, closed_at, report) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period) DO NOTHING",
            )
            .arg(period)
            .arg(starts_at.as_millisecond())
            .arg(ends_at.as_millisecond())
            .arg(closed_at.as_millisecond())
            .arg(report),
        )
        .await?;
        if closed != 1 {
            return Ok(false);
        }
        B::Db::execute(
            &mut tx,
            sql(
                "INSERT INTO period_totals (period, userid, score, balance, pending, entries) \
                 SELECT $1, userid, SUM(score_delta), SUM(balance_delta), SUM(pending_delta), \
                 COUNT(*) FROM ledger_entries WHERE occurred_at >= $2 AND occurred_at < $3 \
                 GROUP BY userid",
            )
            .arg(period)
            .arg(starts_at.as_millisecond())
            .arg(ends_at.as_millisecond()),
        )
        .await?;
        B::Db::execute(
            &mut tx,
            sql(
                // Each department counts its people and those of the departments under it,
                // once each, as the leaderboards do.
                "WITH RECURSIVE tree (root, id) AS ( \
                     SELECT id, id FROM departments WHERE removed_at IS NULL \
                     UNION ALL \
                     SELECT tree.root, d.id FROM departments d JOIN tree ON d.parent_id = tree.id \
                     WHERE d.removed_at IS NULL) \
                 INSERT INTO period_department_totals (period, department_id, score, members) \
                 SELECT $1, u.root, COALESCE(SUM(t.score), 0), COUNT(*) \
                 FROM (SELECT DISTINCT tree.root AS root, m.userid AS userid FROM tree \
                       JOIN department_members m ON m.department_id = tree.id) u \
                 LEFT JOIN period_totals t ON t.period = $1 AND t.userid = u.userid \
                 GROUP BY u.root",
            )
            .arg(period),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[instrument(level = "debug", skip(self))]
    async fn period_close(&self, period: &str) -> Result<Option<PeriodClose>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row: Option<CloseRow> = B::Db::fetch_optional(
            &mut c,
            sql(&format!("{CLOSE_SELECT} WHERE period = $1")).arg(period),
        )
        .await?;
        row.map(period_close).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn closed_periods(&self, limit: i64) -> Result<Vec<PeriodClose>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<CloseRow> = B::Db::fetch_all(
            &mut c,
            sql(&format!("{CLOSE_SELECT} ORDER BY ends_at DESC LIMIT $1")).arg(limit),
        )
        .await?;
        rows.into_iter().map(period_close).collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn period_totals(
        &self,
        period: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<PeriodTotal>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, Option<String>, i64, i64, i64, i64)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT t.userid, e.name, t.score, t.balance, t.pending, t.entries \
                 FROM period_totals t LEFT JOIN employees e ON e.userid = t.userid \
                 WHERE t.period = $1 AND t.userid > $2 ORDER BY t.userid LIMIT $3",
            )
            .arg(period)
            .arg(after)
            .arg(limit),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(userid, name, score, balance, pending, entries)| PeriodTotal {
                    name: name.unwrap_or_default(),
                    userid,
                    score,
                    balance,
                    pending,
                    entries,
                },
            )
            .collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn period_department_totals(
        &self,
        period: &str,
    ) -> Result<Vec<DepartmentTotal>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, Option<String>, i64, i64)> = B::Db::fetch_all(
            &mut c,
            sql("SELECT t.department_id, d.name, t.score, t.members \
                 FROM period_department_totals t LEFT JOIN departments d \
                 ON d.id = t.department_id WHERE t.period = $1 \
                 ORDER BY t.score DESC, t.department_id")
            .arg(period),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(department_id, name, score, members)| DepartmentTotal {
                name: name.unwrap_or_default(),
                department_id,
                score,
                members,
            })
            .collect())
    }
}
