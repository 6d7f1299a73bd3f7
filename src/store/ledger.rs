//! The ledger's entries and the accounts they sum to, as pages, rankings and checks read
//! them. The writes are in `ledger_tx.rs`; entries are only ever inserted.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, fetch_one, sql};
use super::rows::{AccountRow, ENTRY_SELECT, EntryRow, MismatchRow, RankedRow};
use crate::domain::{Account, Entry, Totals};

/// One ledger entry as the leaderboards see it: whose, how much score, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTick {
    pub id: i64,
    pub userid: String,
    pub score_delta: i64,
    /// Unix milliseconds.
    pub occurred_at: i64,
}

/// A person's score in each of several time ranges, in the order the ranges were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSums {
    pub userid: String,
    pub sums: Vec<RangeSum>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSum {
    pub points: i64,
    /// When the last entry that changed the score occurred (Unix ms); `None` without one.
    pub achieved_at: Option<i64>,
}

/// An account whose stored totals differ from the sum of its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub userid: String,
    pub stored: Totals,
    pub summed: Totals,
}

#[async_trait]
pub trait LedgerStore: Send + Sync {
    async fn account(&self, userid: &str) -> Result<Option<Account>, StoreError>;
    /// The highest all-time scores with the person's name, ties by userid. (Windowed
    /// leaderboards come from the leaderboard index, not from this.)
    async fn top_accounts(&self, limit: i64) -> Result<Vec<(Account, String)>, StoreError>;
    /// Accounts with the person's name in userid order after `after` ("" for the first
    /// page), for paging through everyone's balances.
    async fn accounts_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(Account, String)>, StoreError>;
    /// A person's entries, newest first, older than `before` (an entry id) when given.
    async fn entries(
        &self,
        userid: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<Entry>, StoreError>;
    async fn entry(&self, id: i64) -> Result<Option<Entry>, StoreError>;
    /// Entries waiting for review (held and not yet decided), oldest first.
    async fn pending_entries(&self, limit: i64) -> Result<Vec<Entry>, StoreError>;
    /// Per rule, how many entries it posted for events in `[from, to)` and their points
    /// (pending included).
    async fn rule_totals(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RuleTotal>, StoreError>;
    /// Entries that occurred in [from, to), of one person or everyone, in id order after
    /// `after_id` (for paging through a month).
    async fn entries_between(
        &self,
        userid: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Each person's score in each range `[from, to)` of Unix ms, counting the entries with
    /// an id up to `up_to_id`; people without entries in any of the ranges are left out.
    async fn score_sums(
        &self,
        ranges: &[(i64, i64)],
        up_to_id: i64,
    ) -> Result<Vec<RangeSums>, StoreError>;
    /// Entries with an id above `after_id`, in id order.
    async fn ledger_ticks(&self, after_id: i64, limit: i64) -> Result<Vec<LedgerTick>, StoreError>;
    /// The highest entry id (0 for an empty ledger).
    async fn last_entry_id(&self) -> Result<i64, StoreError>;
    /// The events the rules saw that occurred in [from, to), in the order they were
    /// processed, after `after_id`: (id, event).
    async fn recorded_events(
        &self,
        from: Timestamp,
        to: Timestamp,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, crate::domain::DomainEvent)>, StoreError>;
    /// Accounts whose totals are not the sum of their entries (invariant 1); empty when sound.
    async fn verify_totals(&self) -> Result<Vec<Mismatch>, StoreError>;
    /// What each person gave each other by hand in `category` (e.g. `recognition`), posted in
    /// [from, until) and still standing: (giver, recipient, points).
    async fn gifts(
        &self,
        category: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;
}

/// What one rule posted in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTotal {
    pub rule_id: String,
    pub entries: i64,
    pub points: i64,
}

fn entries(rows: Vec<EntryRow>) -> Result<Vec<Entry>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[async_trait]
impl<B: SqlBackend> LedgerStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn account(&self, userid: &str) -> Result<Option<Account>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row: Option<AccountRow> = B::Db::fetch_optional(
            &mut c,
            sql("SELECT userid, score, balance, pending FROM accounts WHERE userid = $1")
                .arg(userid),
        )
        .await?;
        Ok(row.map(Into::into))
    }

    #[instrument(level = "debug", skip(self))]
    async fn top_accounts(&self, limit: i64) -> Result<Vec<(Account, String)>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<RankedRow> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT a.userid, e.name, a.score, a.balance, a.pending FROM accounts a \
                 JOIN employees e ON e.userid = a.userid \
                 ORDER BY a.score DESC, a.userid LIMIT $1",
            )
            .arg(limit),
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn recorded_events(
        &self,
        from: Timestamp,
        to: Timestamp,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, crate::domain::DomainEvent)>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(i64, String)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT id, event FROM processed_events WHERE occurred_at >= $1 \
                 AND occurred_at < $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .arg(from.as_millisecond())
            .arg(to.as_millisecond())
            .arg(after_id)
            .arg(limit),
        )
        .await?;
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json)
                    .map(|event| (id, event))
                    .map_err(|e| StoreError::Corrupt(format!("recorded event {id}: {e}")))
            })
            .collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn accounts_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(Account, String)>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<RankedRow> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT a.userid, e.name, a.score, a.balance, a.pending FROM accounts a \
                 JOIN employees e ON e.userid = a.userid \
                 WHERE a.userid > $1 ORDER BY a.userid LIMIT $2",
            )
            .arg(after)
            .arg(limit),
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn entries(
        &self,
        userid: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text =
            format!("{ENTRY_SELECT} WHERE e.userid = $1 AND e.id < $2 ORDER BY e.id DESC LIMIT $3");
        let query = sql(&text)
            .arg(userid)
            .arg(before.unwrap_or(i64::MAX))
            .arg(limit);
        entries(B::Db::fetch_all(&mut c, query).await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn rule_totals(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RuleTotal>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, i64, i64)> = B::Db::fetch_all(
            &mut c,
            sql("SELECT rule_id, COUNT(*), \
                 CAST(COALESCE(SUM(score_delta + pending_delta), 0) AS BIGINT) \
                 FROM ledger_entries WHERE kind = 'rule' AND rule_id IS NOT NULL \
                 AND occurred_at >= $1 AND occurred_at < $2 GROUP BY rule_id")
            .arg(from.as_millisecond())
            .arg(to.as_millisecond()),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(rule_id, entries, points)| RuleTotal {
                rule_id,
                entries,
                points,
            })
            .collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn pending_entries(&self, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!(
            "{ENTRY_SELECT} WHERE e.pending_delta <> 0 AND e.kind IN ('rule', 'manual') \
             AND s.id IS NULL ORDER BY e.id LIMIT $1"
        );
        entries(B::Db::fetch_all(&mut c, sql(&text).arg(limit)).await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn entry(&self, id: i64) -> Result<Option<Entry>, StoreError> {
        let mut c = self.reader().acquire().await?;
        entry_by_id::<B::Db>(&mut c, id).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn entries_between(
        &self,
        userid: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut c = self.reader().acquire().await?;
        // One text per case, so each can use its index: a person's entries by (userid, id),
        // everyone's by time. `$1 IS NULL OR userid = $1` would scan the period for one person.
        let (person, first) = match userid {
            Some(_) => ("e.userid = $1 AND ", 2),
            None => ("", 1),
        };
        let text = format!(
            "{ENTRY_SELECT} WHERE {person}e.occurred_at >= ${} AND e.occurred_at < ${} \
             AND e.id > ${} ORDER BY e.id LIMIT ${}",
            first,
            first + 1,
            first + 2,
            first + 3
        );
        let mut query = sql(&text);
        if let Some(userid) = userid {
            query = query.arg(userid);
        }
        let query = query
            .arg(from.as_millisecond())
            .arg(to.as_millisecond())
            .arg(after_id)
            .arg(limit);
        entries(B::Db::fetch_all(&mut c, query).await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn score_sums(
        &self,
        ranges: &[(i64, i64)],
        up_to_id: i64,
    ) -> Result<Vec<RangeSums>, StoreError> {
        let (Some(from), Some(to)) = (
            ranges.iter().map(|r| r.0).min(),
            ranges.iter().map(|r| r.1).max(),
        ) else {
            return Ok(Vec::new());
        };
        let text = score_sums_sql(ranges.len());
        let mut query = sql(&text).arg(up_to_id).arg(from).arg(to);
        for (a, b) in ranges {
            query = query.arg(*a).arg(*b);
        }
        let mut c = self.reader().acquire().await?;
        let rows: Vec<SumsRow> = B::Db::fetch_all(&mut c, query).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn ledger_ticks(&self, after_id: i64, limit: i64) -> Result<Vec<LedgerTick>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(i64, String, i64, i64)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT id, userid, score_delta, occurred_at FROM ledger_entries \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .arg(after_id)
            .arg(limit),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, userid, score_delta, occurred_at)| LedgerTick {
                id,
                userid,
                score_delta,
                occurred_at,
            })
            .collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn last_entry_id(&self) -> Result<i64, StoreError> {
        let mut c = self.reader().acquire().await?;
        let (id,): (Option<i64>,) =
            fetch_one::<B::Db, _>(&mut c, sql("SELECT MAX(id) FROM ledger_entries")).await?;
        Ok(id.unwrap_or(0))
    }

    #[instrument(level = "debug", skip(self))]
    async fn gifts(
        &self,
        category: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut c = self.reader().acquire().await?;
        B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT e.actor, e.userid, CAST(SUM(e.points) AS BIGINT) FROM ledger_entries e \
                 WHERE e.category = $1 AND e.kind = 'manual' AND e.actor IS NOT NULL \
                 AND e.posted_at >= $2 AND e.posted_at < $3 \
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id) \
                 GROUP BY e.actor, e.userid ORDER BY e.actor, e.userid",
            )
            .arg(category)
            .arg(from.as_millisecond())
            .arg(until.as_millisecond()),
        )
        .await
        .map_err(Into::into)
    }

    #[instrument(level = "debug", skip(self))]
    async fn verify_totals(&self) -> Result<Vec<Mismatch>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<MismatchRow> = B::Db::fetch_all(
            &mut c,
            sql("SELECT a.userid, a.score, a.balance, a.pending, \
                   CAST(COALESCE(SUM(e.score_delta), 0) AS BIGINT) AS sum_score, \
                   CAST(COALESCE(SUM(e.balance_delta), 0) AS BIGINT) AS sum_balance, \
                   CAST(COALESCE(SUM(e.pending_delta), 0) AS BIGINT) AS sum_pending \
                 FROM accounts a LEFT JOIN ledger_entries e ON e.userid = a.userid \
                 GROUP BY a.userid, a.score, a.balance, a.pending \
                 HAVING a.score <> COALESCE(SUM(e.score_delta), 0) \
                     OR a.balance <> COALESCE(SUM(e.balance_delta), 0) \
                     OR a.pending <> COALESCE(SUM(e.pending_delta), 0) \
                 ORDER BY a.userid"),
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// `$1`–`$3` are the id bound and the span of all ranges; then two per range.
fn score_sums_sql(ranges: usize) -> String {
    let columns: Vec<String> = (0..ranges)
        .map(|i| {
            let (a, b) = (4 + 2 * i, 5 + 2 * i);
            format!(
                "CAST(SUM(CASE WHEN occurred_at >= ${a} AND occurred_at < ${b} \
                 THEN score_delta ELSE 0 END) AS BIGINT), \
                 MAX(CASE WHEN occurred_at >= ${a} AND occurred_at < ${b} AND score_delta <> 0 \
                 THEN occurred_at END)"
            )
        })
        .collect();
    format!(
        "SELECT userid, {} FROM ledger_entries WHERE id <= $1 AND occurred_at >= $2 \
         AND occurred_at < $3 GROUP BY userid",
        columns.join(", ")
    )
}

/// A row of [`score_sums_sql`]: the userid, then a sum and a time per range.
struct SumsRow(RangeSums);

impl<'r, R: Row> sqlx::FromRow<'r, R> for SumsRow
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<SumsRow, sqlx::Error> {
        let ranges = (row.len() - 1) / 2;
        let sums = (0..ranges)
            .map(|i| {
                Ok(RangeSum {
                    points: row.try_get(1 + 2 * i)?,
                    achieved_at: row.try_get(2 + 2 * i)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(SumsRow(RangeSums {
            userid: row.try_get(0)?,
            sums,
        }))
    }
}

/// One entry with what later entries did to it, on any connection.
pub(super) async fn entry_by_id<DB: Dialect>(
    connection: &mut DB::Connection,
    id: i64,
) -> Result<Option<Entry>, StoreError> {
    let text = format!("{ENTRY_SELECT} WHERE e.id = $1");
    let row: Option<EntryRow> = DB::fetch_optional(connection, sql(&text).arg(id)).await?;
    row.map(TryInto::try_into).transpose()
}
