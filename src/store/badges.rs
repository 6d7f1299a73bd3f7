//! Badges granted, once per person and badge (the key makes a second grant a no-op); the
//! ledger reads badge criteria need (when a person's standing entries of a rule occurred);
//! and a team challenge's members and progress.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, fetch_one, sql};
use super::rows::millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantedBadge {
    pub userid: String,
    pub badge_id: String,
    pub reason: String,
    /// The HR admin who granted it by hand.
    pub actor: Option<String>,
    pub granted_at: Timestamp,
}

#[async_trait]
pub trait BadgeStore: Send + Sync {
    /// A person's badges, oldest first.
    async fn badges_of(&self, userid: &str) -> Result<Vec<GrantedBadge>, StoreError>;
    /// The active members of a department and of every department under it.
    async fn members_under(&self, department: &str) -> Result<Vec<String>, StoreError>;
    /// Score points of `category` the members of a department (and those under it) earned in
    /// [from, until), reversals taken off: a team challenge's progress.
    async fn team_points(
        &self,
        department: &str,
        category: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError>;
}

/// The active members of department `$1` and of those under it.
const MEMBERS_UNDER: &str = "WITH RECURSIVE down(id) AS ( \
     SELECT id FROM departments WHERE id = $1 \
     UNION SELECT d.id FROM departments d JOIN down ON d.parent_id = down.id \
     ) SELECT DISTINCT m.userid FROM department_members m \
     JOIN employees e ON e.userid = m.userid \
     WHERE e.active AND m.department_id IN (SELECT id FROM down)";

#[async_trait]
pub trait BadgeTx: Send {
    /// Grants a badge; false when the person has it already.
    async fn grant_badge(&mut self, badge: &GrantedBadge) -> Result<bool, StoreError>;
    async fn has_badge(&mut self, userid: &str, badge_id: &str) -> Result<bool, StoreError>;
    /// When the person's standing entries of `rule_id` since `since` occurred, oldest
    /// first: posted by the rule, not reversed, and granted (not pending or rejected).
    async fn rule_entry_times(
        &mut self,
        userid: &str,
        rule_id: &str,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError>;
}

#[async_trait]
impl<B: SqlBackend> BadgeStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn badges_of(&self, userid: &str) -> Result<Vec<GrantedBadge>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, String, String, Option<String>, i64)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT userid, badge_id, reason, actor, granted_at FROM badges_granted \
                 WHERE userid = $1 ORDER BY granted_at, badge_id",
            )
            .arg(userid),
        )
        .await?;
        rows.into_iter()
            .map(|(userid, badge_id, reason, actor, at)| {
                Ok(GrantedBadge {
                    granted_at: millis(at).ok_or_else(|| {
                        StoreError::Corrupt(format!("badge {badge_id} of {userid}: time"))
                    })?,
                    userid,
                    badge_id,
                    reason,
                    actor,
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn members_under(&self, department: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String,)> = B::Db::fetch_all(
            &mut c,
            sql(&format!("{MEMBERS_UNDER} ORDER BY m.userid")).arg(department),
        )
        .await?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn team_points(
        &self,
        department: &str,
        category: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut c = self.reader().acquire().await?;
        let (points,): (i64,) = fetch_one::<B::Db, _>(
            &mut c,
            sql(&format!(
                "SELECT CAST(COALESCE(SUM(le.score_delta), 0) AS BIGINT) FROM ledger_entries le \
                 WHERE le.category = $2 AND le.occurred_at >= $3 AND le.occurred_at < $4 \
                 AND le.userid IN ({MEMBERS_UNDER})"
            ))
            .arg(department)
            .arg(category)
            .arg(from.as_millisecond())
            .arg(until.as_millisecond()),
        )
        .await?;
        Ok(points)
    }
}

#[async_trait]
impl<DB: Dialect> BadgeTx for SqlTx<DB> {
    #[instrument(level = "debug", skip_all, fields(userid = %b.userid, badge = %b.badge_id))]
    async fn grant_badge(&mut self, b: &GrantedBadge) -> Result<bool, StoreError> {
        let n = DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO badges_granted (userid, badge_id, reason, actor, granted_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (userid, badge_id) DO NOTHING",
            )
            .arg(b.userid.as_str())
            .arg(b.badge_id.as_str())
            .arg(b.reason.as_str())
            .arg(b.actor.as_deref())
            .arg(b.granted_at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn has_badge(&mut self, userid: &str, badge_id: &str) -> Result<bool, StoreError> {
        let (n,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql("SELECT COUNT(*) FROM badges_granted WHERE userid = $1 AND badge_id = $2")
                .arg(userid)
                .arg(badge_id),
        )
        .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", skip(self))]
    async fn rule_entry_times(
        &mut self,
        userid: &str,
        rule_id: &str,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError> {
        let rows: Vec<(i64,)> = DB::fetch_all(
            &mut self.tx,
            sql("SELECT e.occurred_at FROM ledger_entries e \
                 WHERE e.userid = $1 AND e.rule_id = $2 AND e.kind = 'rule' \
                 AND e.occurred_at >= $3 \
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id) \
                 AND (e.pending_delta = 0 OR EXISTS (SELECT 1 FROM ledger_entries s \
                      WHERE s.resolves = e.id AND s.kind = 'approval')) \
                 ORDER BY e.occurred_at")
            .arg(userid)
            .arg(rule_id)
            .arg(since.as_millisecond()),
        )
        .await?;
        rows.into_iter()
            .map(|(ms,)| millis(ms).ok_or_else(|| StoreError::Corrupt(format!("entry time {ms}"))))
            .collect()
    }
}
