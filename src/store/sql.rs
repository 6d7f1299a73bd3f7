//! The SQL both backends share, written once. SQLite and PostgreSQL both accept `$1`
//! placeholders, `RETURNING`, `ON CONFLICT` and `WITH RECURSIVE`, so the statements are
//! the same text; the macro stamps them onto each backend's transaction and pool types
//! because sqlx's executors are concrete per database. Dialect differences are arguments.

/// Implements [`super::StoreTx`] for `$tx` (a struct with a `tx: sqlx::Transaction` field).
/// `$row_lock` is what the dialect appends to a SELECT to lock the rows it reads.
macro_rules! impl_store_tx {
    ($tx:ty, row_lock = $row_lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::StoreTx for $tx {
            async fn upsert_department(&mut self, d: &$crate::domain::Department) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO departments (id, name, parent_id, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, \
                     updated_at = excluded.updated_at",
                )
                .bind(&d.id)
                .bind(&d.name)
                .bind(&d.parent_id)
                .bind(jiff::Timestamp::now().as_millisecond())
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn upsert_employee(&mut self, e: &$crate::domain::Employee) -> Result<(), $crate::store::StoreError> {
                let now = jiff::Timestamp::now().as_millisecond();
                sqlx::query(
                    "INSERT INTO employees (userid, name, active, updated_at, hired_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (userid) DO UPDATE SET name = excluded.name, active = excluded.active, \
                     updated_at = excluded.updated_at, hired_at = excluded.hired_at",
                )
                .bind(&e.userid)
                .bind(&e.name)
                .bind(e.active)
                .bind(now)
                .bind(e.hired_at.map(|t| t.as_millisecond()))
                .execute(&mut *self.tx)
                .await?;
                sqlx::query("DELETE FROM department_members WHERE userid = $1")
                    .bind(&e.userid)
                    .execute(&mut *self.tx)
                    .await?;
                for department in &e.departments {
                    sqlx::query(
                        "INSERT INTO department_members (userid, department_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&e.userid)
                    .bind(department)
                    .execute(&mut *self.tx)
                    .await?;
                }
                for department in &e.leads {
                    sqlx::query(
                        "INSERT INTO department_members (userid, department_id, leader) VALUES ($1, $2, TRUE) \
                         ON CONFLICT (userid, department_id) DO UPDATE SET leader = TRUE",
                    )
                    .bind(&e.userid)
                    .bind(department)
                    .execute(&mut *self.tx)
                    .await?;
                }
                sqlx::query("INSERT INTO accounts (userid, updated_at) VALUES ($1, $2) ON CONFLICT (userid) DO NOTHING")
                    .bind(&e.userid)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn lock_account(&mut self, userid: &str) -> Result<Option<$crate::domain::Account>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::AccountRow> = sqlx::query_as(concat!(
                    "SELECT userid, score, balance, pending FROM accounts WHERE userid = $1",
                    $row_lock
                ))
                    .bind(userid)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn departments_of(&mut self, userid: &str) -> Result<Vec<String>, $crate::store::StoreError> {
                let ids: Vec<(String,)> = sqlx::query_as(
                    "WITH RECURSIVE up(id) AS ( \
                         SELECT department_id FROM department_members WHERE userid = $1 \
                         UNION \
                         SELECT d.parent_id FROM departments d JOIN up ON d.id = up.id \
                         WHERE d.parent_id IS NOT NULL \
                     ) SELECT id FROM up ORDER BY id",
                )
                .bind(userid)
                .fetch_all(&mut *self.tx)
                .await?;
                Ok(ids.into_iter().map(|(id,)| id).collect())
            }

            async fn entry(&mut self, id: i64) -> Result<Option<$crate::domain::Entry>, $crate::store::StoreError> {
                let sql = format!("{} WHERE e.id = $1", $crate::store::rows::ENTRY_SELECT);
                let row: Option<$crate::store::rows::EntryRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&mut *self.tx).await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn entry_by_source(&mut self, source_key: &str, rule_key: &str) -> Result<Option<$crate::domain::Entry>, $crate::store::StoreError> {
                let sql = format!(
                    "{} WHERE e.source_key = $1 AND e.rule_key = $2",
                    $crate::store::rows::ENTRY_SELECT
                );
                let row: Option<$crate::store::rows::EntryRow> = sqlx::query_as(&sql)
                    .bind(source_key)
                    .bind(rule_key)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn rule_usage(&mut self, userid: &str, rule_id: &str, from: jiff::Timestamp, until: jiff::Timestamp) -> Result<i64, $crate::store::StoreError> {
                let (used,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(score_delta + pending_delta), 0) AS BIGINT) FROM ledger_entries \
                     WHERE userid = $1 AND rule_id = $2 AND occurred_at >= $3 AND occurred_at < $4",
                )
                .bind(userid)
                .bind(rule_id)
                .bind(from.as_millisecond())
                .bind(until.as_millisecond())
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(used)
            }

            async fn insert_entry(&mut self, e: &$crate::domain::NewEntry) -> Result<$crate::domain::Entry, $crate::store::StoreError> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO ledger_entries (userid, kind, points, score_delta, balance_delta, pending_delta, \
                     source_key, rule_key, rule_id, rule_version, actor, category, reverses, resolves, \
                     explanation_zh, explanation_en, inputs, occurred_at, posted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
                     RETURNING id",
                )
                .bind(&e.userid)
                .bind(e.kind.as_str())
                .bind(e.points)
                .bind(e.deltas.score)
                .bind(e.deltas.balance)
                .bind(e.deltas.pending)
                .bind(&e.source_key)
                .bind(&e.rule_key)
                .bind(&e.rule_id)
                .bind(e.rule_version.map(i64::from))
                .bind(&e.actor)
                .bind(&e.category)
                .bind(e.reverses)
                .bind(e.resolves)
                .bind(&e.explanation.zh)
                .bind(&e.explanation.en)
                .bind(e.inputs.to_string())
                .bind(e.occurred_at.as_millisecond())
                .bind(e.posted_at.as_millisecond())
                .fetch_one(&mut *self.tx)
                .await?;
                Ok($crate::domain::Entry {
                    id,
                    userid: e.userid.clone(),
                    kind: e.kind,
                    points: e.points,
                    deltas: e.deltas,
                    source_key: e.source_key.clone(),
                    rule_id: e.rule_id.clone(),
                    rule_version: e.rule_version,
                    actor: e.actor.clone(),
                    category: e.category.clone(),
                    reverses: e.reverses,
                    resolves: e.resolves,
                    explanation: e.explanation.clone(),
                    inputs: e.inputs.clone(),
                    // As stored: to the millisecond.
                    occurred_at: $crate::store::rows::stored_time(e.occurred_at),
                    posted_at: $crate::store::rows::stored_time(e.posted_at),
                    reversed_by: None,
                    resolved_by: None,
                    approved: None,
                })
            }

            async fn apply_deltas(&mut self, userid: &str, d: $crate::domain::Deltas) -> Result<(), $crate::store::StoreError> {
                let updated = sqlx::query(
                    "UPDATE accounts SET score = score + $2, balance = balance + $3, pending = pending + $4, \
                     updated_at = $5 WHERE userid = $1",
                )
                .bind(userid)
                .bind(d.score)
                .bind(d.balance)
                .bind(d.pending)
                .bind(jiff::Timestamp::now().as_millisecond())
                .execute(&mut *self.tx)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err($crate::store::StoreError::Corrupt(format!("no account row for {userid}")));
                }
                Ok(())
            }

            async fn record_audit(&mut self, a: &$crate::store::NewAudit) -> Result<i64, $crate::store::StoreError> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO audit_log (at, actor, action, subject, reason, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(a.at.as_millisecond())
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.subject)
                .bind(&a.reason)
                .bind(a.detail.to_string())
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn score_rank(&mut self, userid: &str) -> Result<(i64, i64), $crate::store::StoreError> {
                let (above, total): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM accounts o WHERE o.score > a.score), \
                     (SELECT COUNT(*) FROM accounts) FROM accounts a WHERE a.userid = $1",
                )
                .bind(userid)
                .fetch_optional(&mut *self.tx)
                .await?
                .unwrap_or((0, 0));
                Ok((above + 1, total))
            }

            async fn closed_until(&mut self) -> Result<Option<jiff::Timestamp>, $crate::store::StoreError> {
                let (until,): (Option<i64>,) = sqlx::query_as("SELECT MAX(ends_at) FROM period_closes")
                    .fetch_one(&mut *self.tx)
                    .await?;
                until
                    .map(|ms| {
                        jiff::Timestamp::from_millisecond(ms)
                            .map_err(|_| $crate::store::StoreError::Corrupt(format!("period end {ms}")))
                    })
                    .transpose()
            }

            async fn employee_name(&mut self, userid: &str) -> Result<Option<String>, $crate::store::StoreError> {
                let row: Option<(String,)> = sqlx::query_as("SELECT name FROM employees WHERE userid = $1")
                    .bind(userid)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                Ok(row.map(|(name,)| name))
            }

            async fn monthly_budget(&mut self, userid: &str) -> Result<Option<i64>, $crate::store::StoreError> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT monthly_points FROM manager_budgets WHERE userid = $1")
                    .bind(userid)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                Ok(row.map(|(points,)| points))
            }

            async fn set_monthly_budget(&mut self, userid: &str, points: i64, by: &str, at: jiff::Timestamp) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO manager_budgets (userid, monthly_points, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (userid) DO UPDATE SET monthly_points = excluded.monthly_points, \
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                )
                .bind(userid)
                .bind(points)
                .bind(by)
                .bind(at.as_millisecond())
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn manual_awarded_by(&mut self, actor: &str, from: jiff::Timestamp, to: jiff::Timestamp) -> Result<i64, $crate::store::StoreError> {
                let (points,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(e.points), 0) AS BIGINT) FROM ledger_entries e \
                     WHERE e.actor = $1 AND e.kind = 'manual' AND e.points > 0 \
                     AND e.posted_at >= $2 AND e.posted_at < $3 \
                     AND NOT EXISTS (SELECT 1 FROM ledger_entries x WHERE x.reverses = e.id \
                         OR (x.resolves = e.id AND x.kind = 'rejection'))",
                )
                .bind(actor)
                .bind(from.as_millisecond())
                .bind(to.as_millisecond())
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(points)
            }

            async fn enqueue_outbox(&mut self, row: &$crate::store::NewOutboxRow) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "INSERT INTO outbox (dedup_key, channel, recipient, payload, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, 'pending', $5, $6) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(&row.dedup_key)
                .bind(&row.channel)
                .bind(&row.recipient)
                .bind(row.payload.to_string())
                .bind(row.due_at.as_millisecond())
                .bind(row.created_at.as_millisecond())
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn complete_inbox(&mut self, id: i64, note: Option<&str>, now: jiff::Timestamp) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE inbox SET status = 'done', processed_at = $2, last_error = $3 \
                     WHERE id = $1 AND status = 'processing'",
                )
                .bind(id)
                .bind(now.as_millisecond())
                .bind(note)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn commit(self: Box<Self>) -> Result<(), $crate::store::StoreError> {
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

/// Implements [`super::Store`] for `$store`, which has `reader()` and `writer()` pools
/// (the same pool on PostgreSQL) and begins transactions as `$tx`.
macro_rules! impl_store {
    ($store:ty, $tx:ident, $backend:expr, $migrator:expr, claim_lock = $claim_lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
        fn backend(&self) -> $crate::store::Backend {
            $backend
        }

        async fn migrate(&self) -> Result<usize, $crate::store::StoreError> {
            let applied = || async {
                sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(self.writer())
                    .await
                    .map_or(0, |(n,)| n as usize)
            };
            let before = applied().await;
            $migrator.run(self.writer()).await?;
            Ok(applied().await.saturating_sub(before))
        }

        async fn ping(&self) -> Result<(), $crate::store::StoreError> {
            sqlx::query("SELECT 1").execute(self.reader()).await?;
            Ok(())
        }

        async fn begin(&self) -> Result<Box<dyn $crate::store::StoreTx>, $crate::store::StoreError> {
            Ok(Box::new($tx { tx: self.writer().begin().await? }))
        }

        async fn close(&self) {
            self.reader().close().await;
            self.writer().close().await;
        }

        async fn employee(&self, userid: &str) -> Result<Option<$crate::domain::Employee>, $crate::store::StoreError> {
            let row: Option<(String, String, bool, Option<i64>)> =
                sqlx::query_as("SELECT userid, name, active, hired_at FROM employees WHERE userid = $1")
                    .bind(userid)
                    .fetch_optional(self.reader())
                    .await?;
            let Some((userid, name, active, hired_at)) = row else { return Ok(None) };
            let memberships: Vec<(String, bool)> = sqlx::query_as(
                "SELECT department_id, leader FROM department_members WHERE userid = $1 ORDER BY department_id",
            )
            .bind(&userid)
            .fetch_all(self.reader())
            .await?;
            Ok(Some($crate::domain::Employee {
                userid,
                name,
                active,
                leads: memberships.iter().filter(|(_, leader)| *leader).map(|(d, _)| d.clone()).collect(),
                departments: memberships.into_iter().map(|(d, _)| d).collect(),
                hired_at: hired_at.map(jiff::Timestamp::from_millisecond).transpose()
                    .map_err(|e| $crate::store::StoreError::Corrupt(format!("hired_at: {e}")))?,
            }))
        }

        async fn department(&self, id: &str) -> Result<Option<$crate::domain::Department>, $crate::store::StoreError> {
            let row: Option<(String, String, Option<String>)> =
                sqlx::query_as("SELECT id, name, parent_id FROM departments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
            Ok(row.map(|(id, name, parent_id)| $crate::domain::Department { id, name, parent_id }))
        }

        async fn account(&self, userid: &str) -> Result<Option<$crate::domain::Account>, $crate::store::StoreError> {
            let row: Option<$crate::store::rows::AccountRow> =
                sqlx::query_as("SELECT userid, score, balance, pending FROM accounts WHERE userid = $1")
                    .bind(userid)
                    .fetch_optional(self.reader())
                    .await?;
            Ok(row.map(Into::into))
        }

        async fn top_accounts(&self, limit: i64) -> Result<Vec<($crate::domain::Account, String)>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::RankedRow> = sqlx::query_as(
                "SELECT a.userid, e.name, a.score, a.balance, a.pending FROM accounts a \
                 JOIN employees e ON e.userid = a.userid ORDER BY a.score DESC, a.userid LIMIT $1",
            )
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        async fn entries(&self, userid: &str, limit: i64, before: Option<i64>) -> Result<Vec<$crate::domain::Entry>, $crate::store::StoreError> {
            let sql = format!(
                "{} WHERE e.userid = $1 AND e.id < $2 ORDER BY e.id DESC LIMIT $3",
                $crate::store::rows::ENTRY_SELECT
            );
            let rows: Vec<$crate::store::rows::EntryRow> = sqlx::query_as(&sql)
                .bind(userid)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn entry(&self, id: i64) -> Result<Option<$crate::domain::Entry>, $crate::store::StoreError> {
            let sql = format!("{} WHERE e.id = $1", $crate::store::rows::ENTRY_SELECT);
            let row: Option<$crate::store::rows::EntryRow> =
                sqlx::query_as(&sql).bind(id).fetch_optional(self.reader()).await?;
            row.map(TryInto::try_into).transpose()
        }

        async fn audit_log(&self, person: Option<&str>, limit: i64) -> Result<Vec<$crate::store::AuditRecord>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::AuditRow> = sqlx::query_as(
                "SELECT id, at, actor, action, subject, reason, detail FROM audit_log \
                 WHERE CAST($1 AS TEXT) IS NULL OR actor = $1 OR subject = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(person)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn entries_between(
            &self,
            userid: Option<&str>,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
            after_id: i64,
            limit: i64,
        ) -> Result<Vec<$crate::domain::Entry>, $crate::store::StoreError> {
            let sql = format!(
                "{} WHERE (CAST($1 AS TEXT) IS NULL OR e.userid = $1) AND e.occurred_at >= $2 \
                 AND e.occurred_at < $3 AND e.id > $4 ORDER BY e.id LIMIT $5",
                $crate::store::rows::ENTRY_SELECT
            );
            let rows: Vec<$crate::store::rows::EntryRow> = sqlx::query_as(&sql)
                .bind(userid)
                .bind(from.as_millisecond())
                .bind(to.as_millisecond())
                .bind(after_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn close_period(
            &self,
            period: &str,
            starts_at: jiff::Timestamp,
            ends_at: jiff::Timestamp,
            closed_at: jiff::Timestamp,
            report: &str,
        ) -> Result<bool, $crate::store::StoreError> {
            let mut tx = self.writer().begin().await?;
            let closed = sqlx::query(
                "INSERT INTO period_closes (period, starts_at, ends_at, closed_at, report) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period) DO NOTHING",
            )
            .bind(period)
            .bind(starts_at.as_millisecond())
            .bind(ends_at.as_millisecond())
            .bind(closed_at.as_millisecond())
            .bind(report)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !closed {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO period_totals (period, userid, score, balance, pending, entries) \
                 SELECT $1, userid, SUM(score_delta), SUM(balance_delta), SUM(pending_delta), COUNT(*) \
                 FROM ledger_entries WHERE occurred_at >= $2 AND occurred_at < $3 GROUP BY userid",
            )
            .bind(period)
            .bind(starts_at.as_millisecond())
            .bind(ends_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO period_department_totals (period, department_id, score, members) \
                 SELECT $1, m.department_id, COALESCE(SUM(t.score), 0), COUNT(*) \
                 FROM department_members m LEFT JOIN period_totals t ON t.period = $1 AND t.userid = m.userid \
                 GROUP BY m.department_id",
            )
            .bind(period)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn period_close(&self, period: &str) -> Result<Option<$crate::store::PeriodClose>, $crate::store::StoreError> {
            let row: Option<(String, i64, i64, i64, String)> = sqlx::query_as(
                "SELECT period, starts_at, ends_at, closed_at, report FROM period_closes WHERE period = $1",
            )
            .bind(period)
            .fetch_optional(self.reader())
            .await?;
            let at = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map_err(|_| $crate::store::StoreError::Corrupt(format!("period time {ms}")))
            };
            row.map(|(period, starts, ends, closed, report)| {
                Ok($crate::store::PeriodClose {
                    period,
                    starts_at: at(starts)?,
                    ends_at: at(ends)?,
                    closed_at: at(closed)?,
                    report,
                })
            })
            .transpose()
        }

        async fn period_totals(&self, period: &str, after: &str, limit: i64) -> Result<Vec<$crate::store::PeriodTotal>, $crate::store::StoreError> {
            let rows: Vec<(String, Option<String>, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT t.userid, e.name, t.score, t.balance, t.pending, t.entries FROM period_totals t \
                 LEFT JOIN employees e ON e.userid = t.userid \
                 WHERE t.period = $1 AND t.userid > $2 ORDER BY t.userid LIMIT $3",
            )
            .bind(period)
            .bind(after)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(userid, name, score, balance, pending, entries)| $crate::store::PeriodTotal {
                    name: name.unwrap_or_default(),
                    userid,
                    score,
                    balance,
                    pending,
                    entries,
                })
                .collect())
        }

        async fn period_department_totals(&self, period: &str) -> Result<Vec<$crate::store::DepartmentTotal>, $crate::store::StoreError> {
            let rows: Vec<(String, Option<String>, i64, i64)> = sqlx::query_as(
                "SELECT t.department_id, d.name, t.score, t.members FROM period_department_totals t \
                 LEFT JOIN departments d ON d.id = t.department_id \
                 WHERE t.period = $1 ORDER BY t.score DESC, t.department_id",
            )
            .bind(period)
            .fetch_all(self.reader())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(department_id, name, score, members)| $crate::store::DepartmentTotal {
                    name: name.unwrap_or_default(),
                    department_id,
                    score,
                    members,
                })
                .collect())
        }

        async fn claim_job_run(&self, job: &str, slot: &str, at: jiff::Timestamp) -> Result<bool, $crate::store::StoreError> {
            let done = sqlx::query(
                "INSERT INTO job_runs (job, slot, status, started_at) VALUES ($1, $2, 'running', $3) \
                 ON CONFLICT (job, slot) DO UPDATE SET status = 'running', started_at = excluded.started_at, \
                 finished_at = NULL, detail = NULL WHERE job_runs.status = 'failed'",
            )
            .bind(job)
            .bind(slot)
            .bind(at.as_millisecond())
            .execute(self.writer())
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn finish_job_run(&self, job: &str, slot: &str, ok: bool, detail: &str, at: jiff::Timestamp) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "UPDATE job_runs SET status = $3, detail = $4, finished_at = $5 WHERE job = $1 AND slot = $2",
            )
            .bind(job)
            .bind(slot)
            .bind(if ok { "done" } else { "failed" })
            .bind(detail)
            .bind(at.as_millisecond())
            .execute(self.writer())
            .await?;
            Ok(())
        }

        async fn job_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<$crate::store::JobRun>, $crate::store::StoreError> {
            let rows: Vec<(String, String, String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
                "SELECT job, slot, status, started_at, finished_at, detail FROM job_runs \
                 WHERE CAST($1 AS TEXT) IS NULL OR job = $1 ORDER BY started_at DESC, slot DESC LIMIT $2",
            )
            .bind(job)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            let at = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map_err(|_| $crate::store::StoreError::Corrupt(format!("job run time {ms}")))
            };
            rows.into_iter()
                .map(|(job, slot, status, started, finished, detail)| {
                    Ok($crate::store::JobRun {
                        job,
                        slot,
                        status,
                        started_at: at(started)?,
                        finished_at: finished.map(at).transpose()?,
                        detail,
                    })
                })
                .collect()
        }

        async fn employee_names(&self) -> Result<Vec<(String, String)>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT userid, name FROM employees ORDER BY userid")
                .fetch_all(self.reader())
                .await?)
        }

        async fn directory(&self) -> Result<$crate::store::DirectorySnapshot, $crate::store::StoreError> {
            let people: Vec<(String, String, bool, Option<i64>)> =
                sqlx::query_as("SELECT userid, name, active, hired_at FROM employees ORDER BY userid")
                    .fetch_all(self.reader())
                    .await?;
            let memberships: Vec<(String, String, bool)> = sqlx::query_as(
                "SELECT userid, department_id, leader FROM department_members ORDER BY userid, department_id",
            )
            .fetch_all(self.reader())
            .await?;
            let departments: Vec<(String, String, Option<String>)> =
                sqlx::query_as("SELECT id, name, parent_id FROM departments ORDER BY id")
                    .fetch_all(self.reader())
                    .await?;
            let mut by_person: std::collections::HashMap<String, Vec<(String, bool)>> =
                std::collections::HashMap::new();
            for (userid, department, leader) in memberships {
                by_person.entry(userid).or_default().push((department, leader));
            }
            let people = people
                .into_iter()
                .map(|(userid, name, active, hired_at)| {
                    let memberships = by_person.remove(&userid).unwrap_or_default();
                    Ok($crate::domain::Employee {
                        leads: memberships.iter().filter(|(_, leader)| *leader).map(|(d, _)| d.clone()).collect(),
                        departments: memberships.into_iter().map(|(d, _)| d).collect(),
                        userid,
                        name,
                        active,
                        hired_at: hired_at
                            .map(jiff::Timestamp::from_millisecond)
                            .transpose()
                            .map_err(|e| $crate::store::StoreError::Corrupt(format!("hired_at: {e}")))?,
                    })
                })
                .collect::<Result<Vec<_>, $crate::store::StoreError>>()?;
            Ok($crate::store::DirectorySnapshot {
                people,
                departments: departments
                    .into_iter()
                    .map(|(id, name, parent_id)| $crate::domain::Department { id, name, parent_id })
                    .collect(),
            })
        }

        async fn score_sums(
            &self,
            ranges: &[(i64, i64)],
            up_to_id: i64,
        ) -> Result<Vec<$crate::store::RangeSums>, $crate::store::StoreError> {
            use sqlx::Row;
            let (Some(from), Some(to)) = (
                ranges.iter().map(|r| r.0).min(),
                ranges.iter().map(|r| r.1).max(),
            ) else {
                return Ok(Vec::new());
            };
            // $1–$3: the id bound and the span of all ranges; then two per range.
            let columns: Vec<String> = (0..ranges.len())
                .map(|i| {
                    let (a, b) = (4 + 2 * i, 5 + 2 * i);
                    format!(
                        "CAST(SUM(CASE WHEN occurred_at >= ${a} AND occurred_at < ${b} THEN score_delta ELSE 0 END) AS BIGINT), \
                         MAX(CASE WHEN occurred_at >= ${a} AND occurred_at < ${b} AND score_delta <> 0 THEN occurred_at END)"
                    )
                })
                .collect();
            let sql = format!(
                "SELECT userid, {} FROM ledger_entries WHERE id <= $1 AND occurred_at >= $2 AND occurred_at < $3 \
                 GROUP BY userid",
                columns.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(up_to_id).bind(from).bind(to);
            for (a, b) in ranges {
                query = query.bind(*a).bind(*b);
            }
            let rows = query.fetch_all(self.reader()).await?;
            rows.iter()
                .map(|row| {
                    let sums = (0..ranges.len())
                        .map(|i| {
                            Ok($crate::store::RangeSum {
                                points: row.try_get::<i64, _>(1 + 2 * i)?,
                                achieved_at: row.try_get::<Option<i64>, _>(2 + 2 * i)?,
                            })
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()?;
                    Ok($crate::store::RangeSums { userid: row.try_get(0)?, sums })
                })
                .collect()
        }

        async fn ledger_ticks(&self, after_id: i64, limit: i64) -> Result<Vec<$crate::store::LedgerTick>, $crate::store::StoreError> {
            let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT id, userid, score_delta, occurred_at FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, userid, score_delta, occurred_at)| $crate::store::LedgerTick { id, userid, score_delta, occurred_at })
                .collect())
        }

        async fn last_entry_id(&self) -> Result<i64, $crate::store::StoreError> {
            let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM ledger_entries")
                .fetch_one(self.reader())
                .await?;
            Ok(id.unwrap_or(0))
        }

        async fn insert_inbox(&self, rows: Vec<$crate::store::NewInboxRow>) -> Result<u64, $crate::store::StoreError> {
            self.store_inbox(rows).await
        }

        async fn inbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<$crate::store::InboxRow>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::InboxDbRow> = sqlx::query_as(
                "SELECT id, dedup_key, source, event_type, payload, status, attempts, next_attempt_at, last_error, \
                 received_at, processed_at FROM inbox WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn claim_inbox(&self, now: jiff::Timestamp, lease_until: jiff::Timestamp, limit: i64) -> Result<Vec<$crate::store::InboxRow>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::InboxDbRow> = sqlx::query_as(concat!(
                "UPDATE inbox SET status = 'processing', attempts = attempts + 1, next_attempt_at = $2 \
                 WHERE id IN (SELECT id FROM inbox WHERE status IN ('pending', 'processing') \
                 AND next_attempt_at <= $1 ORDER BY id LIMIT $3",
                $claim_lock,
                ") RETURNING id, dedup_key, source, event_type, payload, status, attempts, \
                 next_attempt_at, last_error, received_at, processed_at"
            ))
                .bind(now.as_millisecond())
                .bind(lease_until.as_millisecond())
                .bind(limit)
                .fetch_all(self.writer())
                .await?;
            let mut rows: Vec<$crate::store::InboxRow> = rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
            rows.sort_by_key(|r| r.id);
            Ok(rows)
        }

        async fn reschedule_inbox(&self, id: i64, error: &str, retry_at: Option<jiff::Timestamp>) -> Result<(), $crate::store::StoreError> {
            let (status, at) = match retry_at {
                Some(at) => ("pending", at),
                None => ("failed", jiff::Timestamp::now()),
            };
            sqlx::query("UPDATE inbox SET status = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1")
                .bind(id)
                .bind(status)
                .bind(at.as_millisecond())
                .bind(error)
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn retry_inbox(&self, id: Option<i64>, now: jiff::Timestamp) -> Result<u64, $crate::store::StoreError> {
            let done = sqlx::query(
                "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE status = 'failed' AND ($1 IS NULL OR id = $1)",
            )
            .bind(id)
            .bind(now.as_millisecond())
            .execute(self.writer())
            .await?;
            Ok(done.rows_affected())
        }

        async fn claim_outbox(&self, now: jiff::Timestamp, lease_until: jiff::Timestamp, limit: i64) -> Result<Vec<$crate::store::OutboxRow>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::OutboxDbRow> = sqlx::query_as(concat!(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $2 \
                 WHERE id IN (SELECT id FROM outbox WHERE status IN ('pending', 'sending') \
                 AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3",
                $claim_lock,
                ") RETURNING id, dedup_key, channel, recipient, payload, status, attempts, \
                 next_attempt_at, last_error, created_at, sent_at"
            ))
                .bind(now.as_millisecond())
                .bind(lease_until.as_millisecond())
                .bind(limit)
                .fetch_all(self.writer())
                .await?;
            let mut rows: Vec<$crate::store::OutboxRow> = rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
            rows.sort_by_key(|r| r.id);
            Ok(rows)
        }

        async fn finish_outbox(&self, row: &$crate::store::OutboxRow, delivery: &$crate::store::Delivery, now: jiff::Timestamp) -> Result<(), $crate::store::StoreError> {
            use $crate::store::Delivery;
            let (status, outcome, detail, next, sent_at, error) = match delivery {
                Delivery::Sent { detail } => ("sent", "sent", detail.as_str(), now, Some(now.as_millisecond()), None),
                Delivery::Retry { error, at } => ("pending", "retry", error.as_str(), *at, None, Some(error.as_str())),
                Delivery::Dead { error } => ("dead", "dead", error.as_str(), now, None, Some(error.as_str())),
            };
            let mut tx = self.writer().begin().await?;
            sqlx::query(
                "UPDATE outbox SET status = $2, next_attempt_at = $3, sent_at = $4, last_error = $5 \
                 WHERE id = $1 AND status = 'sending'",
            )
            .bind(row.id)
            .bind(status)
            .bind(next.as_millisecond())
            .bind(sent_at)
            .bind(error)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO outbox_attempts (outbox_id, attempt, at, outcome, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(row.id)
                .bind(row.attempts)
                .bind(now.as_millisecond())
                .bind(outcome)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn outbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<$crate::store::OutboxRow>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::OutboxDbRow> = sqlx::query_as(
                "SELECT id, dedup_key, channel, recipient, payload, status, attempts, next_attempt_at, last_error, \
                 created_at, sent_at FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn outbox_attempts(&self, id: i64) -> Result<Vec<$crate::store::OutboxAttempt>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::OutboxAttemptDbRow> = sqlx::query_as(
                "SELECT attempt, at, outcome, detail FROM outbox_attempts WHERE outbox_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        }

        async fn retry_outbox(&self, id: Option<i64>, now: jiff::Timestamp) -> Result<u64, $crate::store::StoreError> {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE status = 'dead' AND ($1 IS NULL OR id = $1)",
            )
            .bind(id)
            .bind(now.as_millisecond())
            .execute(self.writer())
            .await?;
            Ok(done.rows_affected())
        }

        async fn verify_totals(&self) -> Result<Vec<$crate::store::Mismatch>, $crate::store::StoreError> {
            let rows: Vec<$crate::store::rows::MismatchRow> = sqlx::query_as(
                "SELECT a.userid, a.score, a.balance, a.pending, \
                   CAST(COALESCE(SUM(e.score_delta), 0) AS BIGINT) AS sum_score, \
                   CAST(COALESCE(SUM(e.balance_delta), 0) AS BIGINT) AS sum_balance, \
                   CAST(COALESCE(SUM(e.pending_delta), 0) AS BIGINT) AS sum_pending \
                 FROM accounts a LEFT JOIN ledger_entries e ON e.userid = a.userid \
                 GROUP BY a.userid, a.score, a.balance, a.pending \
                 HAVING a.score <> COALESCE(SUM(e.score_delta), 0) \
                     OR a.balance <> COALESCE(SUM(e.balance_delta), 0) \
                     OR a.pending <> COALESCE(SUM(e.pending_delta), 0) \
                 ORDER BY a.userid",
            )
            .fetch_all(self.reader())
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| $crate::store::Mismatch {
                    userid: r.userid,
                    stored: $crate::domain::Totals { score: r.score, balance: r.balance, pending: r.pending },
                    summed: $crate::domain::Totals { score: r.sum_score, balance: r.sum_balance, pending: r.sum_pending },
                })
                .collect())
        }
        }
    };
}

pub(super) use {impl_store, impl_store_tx};
