//! Leaderboards by person (company-wide or in a department and below) and by department
//! (total and per head), for any week, month, quarter, year or all time. Answered from an
//! in-memory index (`index.rs`) of order-statistics boards (`board.rs`).

pub mod board;
pub mod directory;
pub mod index;
pub mod window;

use jiff::Timestamp;
use serde::Serialize;

pub use board::TiePolicy;
pub use directory::Exclusions;
pub use index::{LeaderboardIndex, LeaderboardSettings, MONTHS_KEPT, keep_current};
pub use window::{Window, WindowError};

use crate::domain::calendar::{CalendarError, Period};
use crate::store::StoreError;
use board::{Board, Place, rank_among};
use directory::Directory;

#[derive(Debug, thiserror::Error)]
pub enum LeaderboardError {
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("unknown department {0:?}")]
    UnknownDepartment(String),
    #[error("unknown person {0:?}")]
    UnknownPerson(String),
    #[error("cannot work out the period: {0}")]
    Calendar(#[from] CalendarError),
    #[error("cannot read the ledger: {0}")]
    Store(#[from] StoreError),
    /// A board built for a query was pushed out by others before it was read: rare, and a
    /// retry builds it again.
    #[error("the {0} board was busy being replaced; try again")]
    Evicted(Window),
}

/// What a board covers: the window, one of its periods, and optionally a department.
#[derive(Debug, Clone)]
pub struct BoardQuery {
    pub window: Window,
    /// `current` (the default), `previous`, a date, or a label such as `2026-10`.
    pub period: Option<String>,
    /// Only the people of this department and the departments under it.
    pub department: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRow {
    pub rank: u32,
    pub userid: String,
    pub name: String,
    pub points: i64,
}

/// A board's top and, when asked, one person's place on it.
#[derive(Debug, Clone, Serialize)]
pub struct Standings {
    pub window: Window,
    /// E.g. `2026-11-16/week`, `2026-10`; absent for all time.
    pub period: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub department: Option<String>,
    pub tie: &'static str,
    /// How many people are ranked on this board.
    pub ranked: usize,
    pub top: Vec<PersonRow>,
    /// The asked-for person's place; `None` when they are not ranked (excluded, left, or
    /// not employed for the whole period).
    pub me: Option<PersonRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentRow {
    pub rank: u32,
    pub department_id: String,
    pub name: String,
    /// Points of the ranked people in the department and below.
    pub points: i64,
    pub members: u32,
    /// Points per ranked member, to two decimals.
    pub per_head: f64,
}

/// How departments are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentOrder {
    Total,
    PerHead,
}

#[derive(Debug, Clone, Serialize)]
pub struct DepartmentStandings {
    pub window: Window,
    pub period: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// The departments ranked are the ones directly under this one.
    pub parent: String,
    pub order: DepartmentOrder,
    pub tie: &'static str,
    pub top: Vec<DepartmentRow>,
}

impl LeaderboardIndex {
    /// The people's board for `query`, with `me`'s place when given.
    pub async fn people(
        &self,
        query: &BoardQuery,
        me: Option<&str>,
        now: Timestamp,
    ) -> Result<Standings, LeaderboardError> {
        let period = self.period(query, now)?;
        let tie = self.tie();
        let (top, me, ranked) = self
            .places(
                query,
                period.as_ref(),
                me,
                |directory, top, mine, ranked| {
                    let row = |p: Place| {
                        let m = directory.member(p.person);
                        PersonRow {
                            rank: p.rank,
                            userid: m.userid.clone(),
                            name: m.name.clone(),
                            points: p.points,
                        }
                    };
                    (top.into_iter().map(row).collect(), mine.map(row), ranked)
                },
            )
            .await?;
        Ok(Standings {
            window: query.window,
            period: period.as_ref().map(Period::label),
            from: period.as_ref().map(|p| p.start),
            to: period.as_ref().map(|p| p.end),
            department: query.department.clone(),
            tie: tie.name(),
            ranked,
            top,
            me,
        })
    }

    /// The points of the people `query` ranks, highest first, without their names: what a
    /// distribution needs, cheaply.
    pub async fn points(
        &self,
        query: &BoardQuery,
        now: Timestamp,
    ) -> Result<Vec<i64>, LeaderboardError> {
        let period = self.period(query, now)?;
        self.places(query, period.as_ref(), None, |_, top, _, _| {
            top.into_iter().map(|p| p.points).collect()
        })
        .await
    }

    /// The places `query` asks for, and `me`'s, handed to `read` with the directory they
    /// index into, while the boards are held for reading.
    async fn places<R>(
        &self,
        query: &BoardQuery,
        period: Option<&Period>,
        me: Option<&str>,
        read: impl FnOnce(&Directory, Vec<Place>, Option<Place>, usize) -> R,
    ) -> Result<R, LeaderboardError> {
        self.ensure(query.window, period).await?;
        self.know(me, query.department.as_deref()).await?;
        let state = self.read();
        let directory = &state.directory;
        let me = me
            .map(|userid| {
                directory
                    .person(userid)
                    .ok_or_else(|| LeaderboardError::UnknownPerson(userid.to_string()))
            })
            .transpose()?;
        let tie = self.tie();
        let board = &state
            .find(query.window, period)
            .ok_or(LeaderboardError::Evicted(query.window))?
            .board;
        // The whole board, or a large department's own order on it.
        let kept = |scope| {
            (
                board.top(query.limit, scope, tie),
                me.and_then(|p| board.place(p, scope, tie)),
                board.len(scope),
            )
        };
        let department = query.department.as_deref().map(|d| (d, directory.scope(d)));
        let (top, mine, ranked) = match department {
            None => kept(None),
            Some((_, Some(scope))) => kept(scope),
            Some((department, None)) => {
                if directory.department(department).is_none() {
                    return Err(LeaderboardError::UnknownDepartment(department.to_string()));
                }
                let places = rank_among(board, &directory.members_under(department), tie);
                let mine = me.and_then(|p| places.iter().find(|x| x.person == p).copied());
                let ranked = places.len();
                let top = places.into_iter().take(query.limit).collect();
                (top, mine, ranked)
            }
        };
        Ok(read(directory, top, mine, ranked))
    }

    /// `department` and the departments above it, nearest first, each with its name.
    pub async fn department_path(
        &self,
        department: &str,
    ) -> Result<Vec<(String, String)>, LeaderboardError> {
        self.know(None, Some(department)).await?;
        let state = self.read();
        let directory = &state.directory;
        if directory.department(department).is_none() {
            return Err(LeaderboardError::UnknownDepartment(department.to_string()));
        }
        Ok(directory
            .ancestry(department)
            .into_iter()
            .map(|id| {
                let name = directory
                    .department(&id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                (id, name)
            })
            .collect())
    }

    /// The departments directly under `query.department` (the whole organisation by default),
    /// each counting its ranked people and theirs below it.
    pub async fn departments(
        &self,
        query: &BoardQuery,
        order: DepartmentOrder,
        now: Timestamp,
    ) -> Result<DepartmentStandings, LeaderboardError> {
        let period = self.period(query, now)?;
        self.ensure(query.window, period.as_ref()).await?;
        self.know(None, query.department.as_deref()).await?;
        let state = self.read();
        let directory = &state.directory;
        let parent = match &query.department {
            Some(d) => d.clone(),
            None => directory.root().unwrap_or("1").to_string(),
        };
        let board = &state
            .find(query.window, period.as_ref())
            .ok_or(LeaderboardError::Evicted(query.window))?
            .board;
        let tie = self.tie();
        let mut rows = rank_departments(directory, board, &parent, order, tie)?;
        rows.truncate(query.limit);
        Ok(DepartmentStandings {
            window: query.window,
            period: period.as_ref().map(Period::label),
            from: period.as_ref().map(|p| p.start),
            to: period.as_ref().map(|p| p.end),
            parent,
            order,
            tie: tie.name(),
            top: rows,
        })
    }

    fn period(&self, query: &BoardQuery, now: Timestamp) -> Result<Option<Period>, WindowError> {
        window::resolve(self.calendar(), query.window, query.period.as_deref(), now)
    }
}

/// The departments directly under `parent`, each counting its ranked people on `board` and
/// theirs below it, best first by `order`.
pub fn rank_departments(
    directory: &Directory,
    board: &Board,
    parent: &str,
    order: DepartmentOrder,
    tie: TiePolicy,
) -> Result<Vec<DepartmentRow>, LeaderboardError> {
    let node = directory
        .department(parent)
        .ok_or_else(|| LeaderboardError::UnknownDepartment(parent.to_string()))?;
    let mut rows: Vec<DepartmentRow> = node
        .children
        .iter()
        .map(|id| {
            let (points, members) = match directory.scope(id) {
                Some(scope) => (board.total(scope), board.len(scope) as u32),
                None => {
                    let ranked: Vec<_> = directory
                        .members_under(id)
                        .into_iter()
                        .filter(|&p| board.is_ranked(p))
                        .collect();
                    let points = ranked.iter().map(|&p| board.points(p)).sum();
                    (points, ranked.len() as u32)
                }
            };
            let per_head = if members == 0 {
                0.0
            } else {
                (points as f64 / f64::from(members) * 100.0).round() / 100.0
            };
            DepartmentRow {
                rank: 0,
                department_id: id.clone(),
                name: directory
                    .department(id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
                points,
                members,
                per_head,
            }
        })
        .collect();
    let measure = |r: &DepartmentRow| match order {
        DepartmentOrder::Total => r.points as f64,
        DepartmentOrder::PerHead => r.per_head,
    };
    rows.sort_by(|a, b| {
        measure(b)
            .total_cmp(&measure(a))
            .then_with(|| a.department_id.cmp(&b.department_id))
    });
    // Departments have no moment of achievement: an earlier-achiever policy shares ranks.
    for i in 0..rows.len() {
        rows[i].rank = match i.checked_sub(1).map(|j| &rows[j]) {
            Some(prev) if measure(prev) == measure(&rows[i]) => prev.rank,
            Some(prev) if tie == TiePolicy::Dense => prev.rank + 1,
            _ => i as u32 + 1,
        };
    }
    Ok(rows)
}
