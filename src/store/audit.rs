//! What people did by hand, and the limits on it: the audit trail (who, when, what, why)
//! and managers' monthly award budgets.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, fetch_one, sql};
use super::rows::millis;

/// One audit record: who did what to whom, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub reason: String,
    pub detail: serde_json::Value,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub record: NewAudit,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The audit trail, newest first; with `person`, only what they did or had done to them.
    async fn audit_log(
        &self,
        person: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The audit trail and budgets, inside the transaction of the change they record.
#[async_trait]
pub trait AuditTx: Send {
    async fn record_audit(&mut self, record: &NewAudit) -> Result<i64, StoreError>;
    /// A manager's monthly award budget, when one was set.
    async fn monthly_budget(&mut self, userid: &str) -> Result<Option<i64>, StoreError>;
    async fn set_monthly_budget(
        &mut self,
        userid: &str,
        points: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Points `actor` gave by hand in `category` (`manual` awards, `recognition`), to
    /// anyone or to `recipient`, posted in [from, to), not counting what was rejected or
    /// reversed since.
    async fn awarded_by(
        &mut self,
        actor: &str,
        category: &str,
        recipient: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<i64, StoreError>;
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    reason: String,
    detail: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<AuditRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("audit record {}: {what}", r.id));
        Ok(AuditRecord {
            id: r.id,
            record: NewAudit {
                at: millis(r.at).ok_or_else(|| corrupt("time out of range"))?,
                detail: serde_json::from_str(&r.detail)
                    .map_err(|_| corrupt("detail is not JSON"))?,
                actor: r.actor,
                action: r.action,
                subject: r.subject,
                reason: r.reason,
            },
        })
    }
}

#[async_trait]
impl<B: SqlBackend> AuditStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn audit_log(
        &self,
        person: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<AuditRow> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT id, at, actor, action, subject, reason, detail FROM audit_log \
                 WHERE CAST($1 AS TEXT) IS NULL OR actor = $1 OR subject = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .arg(person)
            .arg(limit),
        )
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

#[async_trait]
impl<DB: Dialect> AuditTx for SqlTx<DB> {
    #[instrument(level = "debug", skip_all, fields(actor = %a.actor, action = %a.action))]
    async fn record_audit(&mut self, a: &NewAudit) -> Result<i64, StoreError> {
        let detail = a.detail.to_string();
        let (id,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "INSERT INTO audit_log (at, actor, action, subject, reason, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .arg(a.at.as_millisecond())
            .arg(a.actor.as_str())
            .arg(a.action.as_str())
            .arg(a.subject.as_str())
            .arg(a.reason.as_str())
            .arg(detail.as_str()),
        )
        .await?;
        Ok(id)
    }

    #[instrument(level = "debug", skip(self))]
    async fn monthly_budget(&mut self, userid: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = DB::fetch_optional(
            &mut self.tx,
            sql("SELECT monthly_points FROM manager_budgets WHERE userid = $1").arg(userid),
        )
        .await?;
        Ok(row.map(|(points,)| points))
    }

    #[instrument(level = "debug", skip(self))]
    async fn set_monthly_budget(
        &mut self,
        userid: &str,
        points: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO manager_budgets (userid, monthly_points, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (userid) DO UPDATE SET \
                 monthly_points = excluded.monthly_points, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .arg(userid)
            .arg(points)
            .arg(by)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn awarded_by(
        &mut self,
        actor: &str,
        category: &str,
        recipient: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<i64, StoreError> {
        let (points,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "SELECT CAST(COALESCE(SUM(e.points), 0) AS BIGINT) FROM ledger_entries e \
                 WHERE e.actor = $1 AND e.kind = 'manual' AND e.points > 0 \
                 AND e.category = $4 AND ($5 IS NULL OR e.userid = $5) \
                 AND e.posted_at >= $2 AND e.posted_at < $3 \
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries x WHERE x.reverses = e.id \
                     OR (x.resolves = e.id AND x.kind = 'rejection'))",
            )
            .arg(actor)
            .arg(from.as_millisecond())
            .arg(to.as_millisecond())
            .arg(category)
            .arg(recipient),
        )
        .await?;
        Ok(points)
    }
}
