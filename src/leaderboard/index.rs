//! The leaderboard index: the boards people ask for, in memory. Built from the ledger's sums at
//! start-up and kept current by reading new entries in id order, so a board answers in
//! microseconds. The database stays the source of truth: this can always be rebuilt from it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::Mutex;

use super::LeaderboardError;
use super::board::{Board, TiePolicy};
use super::directory::{Directory, Exclusions};
use super::window::{Window, previous};
use crate::domain::Calendar;
use crate::domain::calendar::Period;
use crate::runtime::CancellationToken;
use crate::store::{LedgerTick, RangeSums, Store};

/// How boards are ranked and who is left off them.
#[derive(Debug, Clone)]
pub struct LeaderboardSettings {
    pub tie: TiePolicy,
    pub exclusions: Exclusions,
    /// Departments with at least this many people (counting those below) keep their own
    /// order on every board; smaller ones are sorted when asked for, which takes microseconds.
    pub department_index_size: usize,
}

impl Default for LeaderboardSettings {
    fn default() -> Self {
        LeaderboardSettings {
            tie: TiePolicy::default(),
            exclusions: Exclusions::default(),
            department_index_size: 1_000,
        }
    }
}

/// New entries read per round trip while catching up.
const TICK_BATCH: i64 = 10_000;
/// How long a missing entry id may stay missing before it is taken for a rolled-back insert.
/// PostgreSQL hands out ids before commit, so a later id can commit first; jifen's write
/// transactions last milliseconds.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// Boards of other periods than the kept ones kept after they were asked for.
const CACHED_PERIODS: usize = 8;
/// Months whose boards are always kept, the current one included: HR's monthly trend
/// shows them, and building months later would scan the ledger again.
pub const MONTHS_KEPT: usize = 6;
/// A query naming someone unknown re-reads the address book at most this often.
const UNKNOWN_REFRESH: Duration = Duration::from_secs(10);

pub(super) struct Ranking {
    pub window: Window,
    pub period: Option<Period>,
    pub board: Board,
    /// The all-time board and the current and previous periods: never evicted.
    pinned: bool,
}

impl Ranking {
    fn contains(&self, at_ms: i64) -> bool {
        self.period
            .as_ref()
            .is_none_or(|p| p.start.as_millisecond() <= at_ms && at_ms < p.end.as_millisecond())
    }

    fn is(&self, window: Window, period: Option<&Period>) -> bool {
        self.window == window && self.period.as_ref().map(|p| p.start) == period.map(|p| p.start)
    }
}

pub(super) struct State {
    pub directory: Arc<Directory>,
    pub rankings: Vec<Ranking>,
}

impl State {
    pub fn find(&self, window: Window, period: Option<&Period>) -> Option<&Ranking> {
        self.rankings.iter().find(|r| r.is(window, period))
    }
}

/// How far the index has read the ledger.
struct Cursor {
    /// Every entry with an id up to here is applied (or was never committed).
    watermark: i64,
    /// Entries above the watermark already applied, kept until the ids below them fill in.
    above: BTreeMap<i64, LedgerTick>,
    /// The first missing id, and since when it has been missing.
    gap: Option<(i64, Instant)>,
    /// When the address book was last read.
    directory_read: Option<Instant>,
}

impl Cursor {
    fn advance(&mut self, now: Instant) {
        loop {
            let next = self.watermark + 1;
            if self.above.remove(&next).is_some() {
                self.watermark = next;
                continue;
            }
            let Some(&first_above) = self.above.keys().next() else {
                self.gap = None;
                return;
            };
            match self.gap {
                Some((id, since)) if id == next => {
                    if now.duration_since(since) < GAP_PATIENCE {
                        return;
                    }
                    tracing::debug!(
                        from = next,
                        to = first_above - 1,
                        "leaderboard: entry ids never committed"
                    );
                    self.watermark = first_above - 1;
                    self.gap = None;
                }
                _ => {
                    self.gap = Some((next, now));
                    return;
                }
            }
        }
    }
}

pub struct LeaderboardIndex {
    store: Arc<dyn Store>,
    calendar: Calendar,
    settings: LeaderboardSettings,
    state: RwLock<State>,
    /// Held while reading the ledger or building boards, so entries are applied once.
    cursor: Mutex<Cursor>,
}

impl LeaderboardIndex {
    /// Builds the all-time board, the current and previous week, quarter and year, and the
    /// last [`MONTHS_KEPT`] months from the ledger.
    pub async fn load(
        store: Arc<dyn Store>,
        calendar: Calendar,
        settings: LeaderboardSettings,
        now: Timestamp,
    ) -> Result<Self, LeaderboardError> {
        let started = Instant::now();
        let watermark = store.last_entry_id().await?;
        let index = LeaderboardIndex {
            store,
            calendar,
            settings,
            state: RwLock::new(State {
                directory: Arc::new(Directory::default()),
                rankings: Vec::new(),
            }),
            cursor: Mutex::new(Cursor {
                watermark,
                above: BTreeMap::new(),
                gap: None,
                directory_read: None,
            }),
        };
        {
            let mut cursor = index.cursor.lock().await;
            index.reload_directory(&mut cursor).await?;
            index.roll_periods(&mut cursor, now).await?;
        }
        tracing::info!(
            people = index.read().directory.len(),
            up_to_entry = watermark,
            seconds = started.elapsed().as_secs_f64(),
            "leaderboards built from the ledger"
        );
        Ok(index)
    }

    pub fn tie(&self) -> TiePolicy {
        self.settings.tie
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Reads the entries posted since the last call and applies them; at a period boundary,
    /// starts the new periods' boards. Returns how many entries were applied.
    pub async fn catch_up(&self, now: Timestamp) -> Result<usize, LeaderboardError> {
        let mut cursor = self.cursor.lock().await;
        self.roll_periods(&mut cursor, now).await?;
        let mut applied = 0;
        loop {
            let ticks = self
                .store
                .ledger_ticks(cursor.watermark, TICK_BATCH)
                .await?;
            let fresh: Vec<LedgerTick> = ticks
                .iter()
                .filter(|t| !cursor.above.contains_key(&t.id))
                .cloned()
                .collect();
            let directory = self.read().directory.clone();
            if fresh.iter().any(|t| directory.person(&t.userid).is_none()) {
                self.reload_directory(&mut cursor).await?;
            }
            self.apply(&fresh);
            applied += fresh.len();
            let stalled = fresh.is_empty();
            cursor.above.extend(fresh.into_iter().map(|t| (t.id, t)));
            cursor.advance(Instant::now());
            // A full batch means more may wait; a batch of nothing new means a gap holds.
            if (ticks.len() as i64) < TICK_BATCH || stalled {
                return Ok(applied);
            }
        }
    }

    /// Applies entries to every board whose period they occurred in. Public for the benchmark,
    /// which times exactly this; the running index calls it from `catch_up`.
    pub fn apply(&self, ticks: &[LedgerTick]) {
        if ticks.is_empty() {
            return;
        }
        let mut state = self.write();
        let State {
            directory,
            rankings,
        } = &mut *state;
        for t in ticks {
            let Some(person) = directory.person(&t.userid) else {
                tracing::warn!(
                    entry = t.id,
                    "leaderboard: entry of a person not in the directory"
                );
                continue;
            };
            for r in rankings.iter_mut().filter(|r| r.contains(t.occurred_at)) {
                r.board.add(person, t.score_delta, t.occurred_at);
            }
        }
    }

    /// Re-reads people and departments (after an address-book sync): new people join the
    /// boards, leavers and newly excluded people leave them.
    pub async fn refresh_directory(&self) -> Result<(), LeaderboardError> {
        let mut cursor = self.cursor.lock().await;
        self.reload_directory(&mut cursor).await
    }

    /// Re-reads the address book when a query names a person or department it has not seen
    /// (someone synced since), at most once per `UNKNOWN_REFRESH`.
    pub(super) async fn know(
        &self,
        person: Option<&str>,
        department: Option<&str>,
    ) -> Result<(), LeaderboardError> {
        let known = {
            let state = self.read();
            person.is_none_or(|p| state.directory.person(p).is_some())
                && department.is_none_or(|d| state.directory.department(d).is_some())
        };
        if known {
            return Ok(());
        }
        let mut cursor = self.cursor.lock().await;
        if cursor
            .directory_read
            .is_some_and(|at| at.elapsed() < UNKNOWN_REFRESH)
        {
            return Ok(());
        }
        self.reload_directory(&mut cursor).await
    }

    /// Makes sure the board of `period` exists, building it from the ledger if it was not
    /// kept.
    pub(super) async fn ensure(
        &self,
        window: Window,
        period: Option<&Period>,
    ) -> Result<(), LeaderboardError> {
        if self.read().find(window, period).is_some() {
            return Ok(());
        }
        let mut cursor = self.cursor.lock().await;
        if self.read().find(window, period).is_none() {
            self.build(&mut cursor, vec![(window, period.cloned())], false)
                .await?;
        }
        Ok(())
    }

    /// Builds the boards of `periods` not held yet in one read of the ledger's sums, so a page
    /// that needs several (HR's monthly trend) waits for one query, not one a period.
    pub async fn prepare(
        &self,
        window: Window,
        periods: &[Period],
    ) -> Result<(), LeaderboardError> {
        let missing = |state: &State| -> Vec<(Window, Option<Period>)> {
            periods
                .iter()
                .filter(|p| state.find(window, Some(p)).is_none())
                .map(|p| (window, Some(p.clone())))
                .collect()
        };
        if missing(&self.read()).is_empty() {
            return Ok(());
        }
        let mut cursor = self.cursor.lock().await;
        let missing = missing(&self.read());
        if !missing.is_empty() {
            self.build(&mut cursor, missing, false).await?;
        }
        Ok(())
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves boards no worse than the last entry applied.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the all-time board, the current and previous periods and the kept months,
    /// building what is new.
    async fn roll_periods(
        &self,
        cursor: &mut Cursor,
        now: Timestamp,
    ) -> Result<(), LeaderboardError> {
        let mut wanted: Vec<(Window, Option<Period>)> = vec![(Window::All, None)];
        for window in Window::PERIODIC {
            let Some(kind) = window.kind() else { continue };
            let kept = if window == Window::Month {
                MONTHS_KEPT
            } else {
                2
            };
            let mut period = self.calendar.period_containing(kind, now)?;
            for _ in 1..kept {
                let before = previous(&self.calendar, &period)?;
                wanted.push((window, Some(std::mem::replace(&mut period, before))));
            }
            wanted.push((window, Some(period)));
        }
        let missing: Vec<(Window, Option<Period>)> = {
            let mut state = self.write();
            for r in &mut state.rankings {
                r.pinned = wanted.iter().any(|(w, p)| r.is(*w, p.as_ref()));
            }
            wanted
                .into_iter()
                .filter(|(w, p)| state.find(*w, p.as_ref()).is_none())
                .collect()
        };
        if !missing.is_empty() {
            self.build(cursor, missing, true).await?;
        }
        Ok(())
    }

    /// Builds boards from the ledger's sums up to the watermark plus what was applied above
    /// it; the cursor is held, so no entry is applied meanwhile.
    async fn build(
        &self,
        cursor: &mut Cursor,
        specs: Vec<(Window, Option<Period>)>,
        pinned: bool,
    ) -> Result<(), LeaderboardError> {
        let ranges: Vec<(i64, i64)> = specs
            .iter()
            .map(|(_, p)| match p {
                Some(p) => (p.start.as_millisecond(), p.end.as_millisecond()),
                None => (i64::MIN, i64::MAX),
            })
            .collect();
        let sums = self.store.score_sums(&ranges, cursor.watermark).await?;
        let mut directory = self.read().directory.clone();
        if sums.iter().any(|s| directory.person(&s.userid).is_none()) {
            self.reload_directory(cursor).await?;
            directory = self.read().directory.clone();
        }
        let periods: Vec<Option<&Period>> = specs.iter().map(|(_, p)| p.as_ref()).collect();
        let boards = boards_from_sums(&directory, &sums, &periods, &self.settings.exclusions);
        let mut built: Vec<Ranking> = specs
            .into_iter()
            .zip(boards)
            .map(|((window, period), board)| Ranking {
                window,
                period,
                board,
                pinned,
            })
            .collect();
        for t in cursor.above.values() {
            let Some(person) = directory.person(&t.userid) else {
                continue;
            };
            for r in built.iter_mut().filter(|r| r.contains(t.occurred_at)) {
                r.board.add(person, t.score_delta, t.occurred_at);
            }
        }
        let mut state = self.write();
        state.rankings.extend(built);
        let spare = state.rankings.iter().filter(|r| !r.pinned).count();
        let mut evict = spare.saturating_sub(CACHED_PERIODS);
        state.rankings.retain(|r| {
            let drop = !r.pinned && evict > 0;
            evict -= usize::from(drop);
            !drop
        });
        Ok(())
    }

    async fn reload_directory(&self, cursor: &mut Cursor) -> Result<(), LeaderboardError> {
        cursor.directory_read = Some(Instant::now());
        let snapshot = self.store.directory().await?;
        let previous = self.read().directory.clone();
        let mut directory = Directory::build(&previous, snapshot, &self.settings.exclusions);
        directory.index_departments(self.settings.department_index_size, &previous);
        let directory = Arc::new(directory);
        let mut state = self.write();
        for r in &mut state.rankings {
            directory.rank_on(&mut r.board, r.period.as_ref(), &self.settings.exclusions);
            r.board.set_groups(directory.groups());
        }
        state.directory = directory;
        Ok(())
    }
}

/// Boards of `periods` (`None`: all time) from the ledger's sums over the same ranges, with
/// everyone the directory ranks in each put on it.
pub fn boards_from_sums(
    directory: &Directory,
    sums: &[RangeSums],
    periods: &[Option<&Period>],
    rules: &Exclusions,
) -> Vec<Board> {
    let mut boards: Vec<Board> = periods
        .iter()
        .map(|_| {
            let mut board = Board::default();
            board.set_groups(directory.groups());
            board
        })
        .collect();
    for s in sums {
        let Some(person) = directory.person(&s.userid) else {
            continue;
        };
        for (board, sum) in boards.iter_mut().zip(&s.sums) {
            if sum.points != 0 || sum.achieved_at.is_some() {
                board.load(person, sum.points, sum.achieved_at);
            }
        }
    }
    for (board, period) in boards.iter_mut().zip(periods) {
        directory.rank_on(board, *period, rules);
    }
    boards
}

/// Keeps the index current: reads new entries every `every` until the process stops.
pub async fn keep_current(index: &LeaderboardIndex, every: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = cancel.cancelled() => return,
        }
        if let Err(e) = index.catch_up(Timestamp::now()).await {
            tracing::warn!(error = %e, "leaderboard: cannot read new entries; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(id: i64) -> LedgerTick {
        LedgerTick {
            id,
            userid: "u".into(),
            score_delta: 1,
            occurred_at: 0,
        }
    }

    fn cursor(watermark: i64, above: &[i64]) -> Cursor {
        Cursor {
            watermark,
            above: above.iter().map(|&id| (id, tick(id))).collect(),
            gap: None,
            directory_read: None,
        }
    }

    #[test]
    fn the_watermark_moves_over_contiguous_ids() {
        let mut c = cursor(3, &[4, 5, 6]);
        c.advance(Instant::now());
        assert_eq!(c.watermark, 6);
        assert!(c.above.is_empty());
    }

    #[test]
    fn a_missing_id_holds_the_watermark_until_it_commits() {
        let start = Instant::now();
        let mut c = cursor(3, &[5, 6]);
        c.advance(start);
        assert_eq!(c.watermark, 3, "4 may still commit");
        c.above.insert(4, tick(4));
        c.advance(start + Duration::from_secs(1));
        assert_eq!(c.watermark, 6);
    }

    #[test]
    fn a_missing_id_is_given_up_after_a_while() {
        let start = Instant::now();
        let mut c = cursor(3, &[6, 7]);
        c.advance(start);
        c.advance(start + GAP_PATIENCE / 2);
        assert_eq!(c.watermark, 3);
        c.advance(start + GAP_PATIENCE);
        assert_eq!(c.watermark, 7);
        assert_eq!(c.gap, None);
    }
}
