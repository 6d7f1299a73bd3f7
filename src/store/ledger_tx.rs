//! The ledger's side of a write transaction: locking accounts, checking caps and what was
//! posted before, inserting entries and moving the totals by their deltas.

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlTx, fetch_one, sql};
use super::ledger::entry_by_id;
use super::rows::{AccountRow, ENTRY_SELECT, EntryRow, millis, stored_time};
use crate::domain::{Account, Deltas, Entry, NewEntry};

/// The ledger's writes and the reads they depend on, inside one transaction.
#[async_trait]
pub trait LedgerTx: Send {
    /// Locks the account against concurrent posts until commit; `None` for an unknown person.
    async fn lock_account(&mut self, userid: &str) -> Result<Option<Account>, StoreError>;
    /// The person's place by score, 1 for the highest (ties share a place), and how many
    /// accounts there are.
    async fn score_rank(&mut self, userid: &str) -> Result<(i64, i64), StoreError>;
    /// The end of the latest closed month: entries that occurred before it belong to a
    /// closed period.
    async fn closed_until(&mut self) -> Result<Option<Timestamp>, StoreError>;
    async fn entry(&mut self, id: i64) -> Result<Option<Entry>, StoreError>;
    async fn entry_by_source(
        &mut self,
        source_key: &str,
        rule_key: &str,
    ) -> Result<Option<Entry>, StoreError>;
    /// Every entry an event posted (one per rule, or per person a rule named), oldest first.
    async fn entries_by_source(&mut self, source_key: &str) -> Result<Vec<Entry>, StoreError>;
    /// Signed sum of what `rule_id` gave the person, pending included, for events in `[from, until)`.
    async fn rule_usage(
        &mut self,
        userid: &str,
        rule_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError>;
    async fn insert_entry(&mut self, entry: &NewEntry) -> Result<Entry, StoreError>;
    /// Keeps the event as the rules saw it, once per source, for backtests.
    async fn record_event(
        &mut self,
        event: &crate::domain::DomainEvent,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    async fn apply_deltas(&mut self, userid: &str, deltas: Deltas) -> Result<(), StoreError>;
}

#[async_trait]
impl<DB: Dialect> LedgerTx for SqlTx<DB> {
    #[instrument(level = "debug", skip(self, event), fields(source = %event.source_key))]
    async fn record_event(
        &mut self,
        event: &crate::domain::DomainEvent,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.source_key)))?;
        DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO processed_events (source_key, kind, occurred_at, event, processed_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source_key) DO NOTHING",
            )
            .arg(event.source_key.as_str())
            .arg(event.kind.as_str())
            .arg(event.occurred_at.as_millisecond())
            .arg(json)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn lock_account(&mut self, userid: &str) -> Result<Option<Account>, StoreError> {
        let text = format!(
            "SELECT userid, score, balance, pending FROM accounts WHERE userid = $1{}",
            DB::ROW_LOCK
        );
        let row: Option<AccountRow> =
            DB::fetch_optional(&mut self.tx, sql(&text).arg(userid)).await?;
        Ok(row.map(Into::into))
    }

    #[instrument(level = "debug", skip(self))]
    async fn score_rank(&mut self, userid: &str) -> Result<(i64, i64), StoreError> {
        let (above, total): (i64, i64) = DB::fetch_optional(
            &mut self.tx,
            sql(
                "SELECT (SELECT COUNT(*) FROM accounts o WHERE o.score > a.score), \
                 (SELECT COUNT(*) FROM accounts) FROM accounts a WHERE a.userid = $1",
            )
            .arg(userid),
        )
        .await?
        .unwrap_or((0, 0));
        Ok((above + 1, total))
    }

    #[instrument(level = "debug", skip(self))]
    async fn closed_until(&mut self) -> Result<Option<Timestamp>, StoreError> {
        let until = match self.closed_until {
            Some(until) => until,
            None => {
                let (until,): (Option<i64>,) =
                    fetch_one::<DB, _>(&mut self.tx, sql("SELECT MAX(ends_at) FROM period_closes"))
                        .await?;
                *self.closed_until.insert(until)
            }
        };
        until
            .map(|ms| millis(ms).ok_or_else(|| StoreError::Corrupt(format!("period end {ms}"))))
            .transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn entry(&mut self, id: i64) -> Result<Option<Entry>, StoreError> {
        entry_by_id::<DB>(&mut self.tx, id).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn entry_by_source(
        &mut self,
        source_key: &str,
        rule_key: &str,
    ) -> Result<Option<Entry>, StoreError> {
        let text = format!("{ENTRY_SELECT} WHERE e.source_key = $1 AND e.rule_key = $2");
        let row: Option<EntryRow> =
            DB::fetch_optional(&mut self.tx, sql(&text).arg(source_key).arg(rule_key)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn entries_by_source(&mut self, source_key: &str) -> Result<Vec<Entry>, StoreError> {
        let text = format!("{ENTRY_SELECT} WHERE e.source_key = $1 ORDER BY e.id");
        let rows: Vec<EntryRow> = DB::fetch_all(&mut self.tx, sql(&text).arg(source_key)).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn rule_usage(
        &mut self,
        userid: &str,
        rule_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError> {
        let (used,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "SELECT CAST(COALESCE(SUM(score_delta + pending_delta), 0) AS BIGINT) \
                 FROM ledger_entries WHERE userid = $1 AND rule_id = $2 \
                 AND occurred_at >= $3 AND occurred_at < $4",
            )
            .arg(userid)
            .arg(rule_id)
            .arg(from.as_millisecond())
            .arg(until.as_millisecond()),
        )
        .await?;
        Ok(used)
    }

    #[instrument(level = "debug", skip_all, fields(userid = %e.userid, source = %e.source_key))]
    async fn insert_entry(&mut self, e: &NewEntry) -> Result<Entry, StoreError> {
        let inputs = e.inputs.to_string();
        let (id,): (i64,) = fetch_one::<DB, _>(
            &mut self.tx,
            sql(
                "INSERT INTO ledger_entries (userid, kind, points, score_delta, balance_delta, \
                 pending_delta, source_key, rule_key, rule_id, rule_version, actor, category, \
                 reverses, resolves, explanation_zh, explanation_en, inputs, occurred_at, \
                 posted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 $14, $15, $16, $17, $18, $19) RETURNING id",
            )
            .arg(e.userid.as_str())
            .arg(e.kind.as_str())
            .arg(e.points)
            .arg(e.deltas.score)
            .arg(e.deltas.balance)
            .arg(e.deltas.pending)
            .arg(e.source_key.as_str())
            .arg(e.rule_key.as_str())
            .arg(e.rule_id.as_deref())
            .arg(e.rule_version.map(i64::from))
            .arg(e.actor.as_deref())
            .arg(e.category.as_str())
            .arg(e.reverses)
            .arg(e.resolves)
            .arg(e.explanation.zh.as_str())
            .arg(e.explanation.en.as_str())
            .arg(inputs.as_str())
            .arg(e.occurred_at.as_millisecond())
            .arg(e.posted_at.as_millisecond()),
        )
        .await?;
        Ok(Entry {
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
            occurred_at: stored_time(e.occurred_at),
            posted_at: stored_time(e.posted_at),
            reversed_by: None,
            resolved_by: None,
            approved: None,
        })
    }

    #[instrument(level = "debug", skip(self))]
    async fn apply_deltas(&mut self, userid: &str, d: Deltas) -> Result<(), StoreError> {
        let updated = DB::execute(
            &mut self.tx,
            sql(
                "UPDATE accounts SET score = score + $2, balance = balance + $3, \
                 pending = pending + $4, updated_at = $5 WHERE userid = $1",
            )
            .arg(userid)
            .arg(d.score)
            .arg(d.balance)
            .arg(d.pending)
            .arg(Timestamp::now().as_millisecond()),
        )
        .await?;
        if updated != 1 {
            return Err(StoreError::Corrupt(format!("no account row for {userid}")));
        }
        Ok(())
    }
}
