//! The employee's home page: score, balance and pending points, places in the company and
//! the department for this week, month and year, this week against last, and the latest
//! entries with their explanations. The numbers come from the ledger and the leaderboards,
//! as the robot's `积分` does.

use jiff::Timestamp;

use crate::domain::{Employee, Lang};
use crate::leaderboard::{BoardQuery, LeaderboardIndex, Window};
use crate::ledger::{Entry, Totals};
use crate::store::Store;
use crate::web::ApiError;

/// Entries on the home page.
const LATEST: i64 = 10;

/// A place on a board and how many are ranked on it; `None` when the person is not ranked.
pub type Place = Option<(u32, usize)>;

pub struct Home {
    pub name: String,
    pub totals: Totals,
    /// Week, month and year: (window, place in the company, place in the department).
    pub places: Vec<(Window, Place, Place)>,
    pub department: Option<String>,
    pub this_week: i64,
    pub last_week: i64,
    pub latest: Vec<Line>,
}

/// One entry as a person reads it.
pub struct Line {
    pub id: i64,
    pub when: String,
    pub points: i64,
    pub explanation: String,
    pub status: &'static str,
    /// The rule and version that posted it, or who made it; empty on the home page.
    pub source: String,
    /// The entry this one reverses, or the one that reversed it.
    pub reverses: Option<i64>,
    pub reversed_by: Option<i64>,
}

impl Line {
    pub fn of(entry: &Entry, lang: Lang, tz: &jiff::tz::TimeZone) -> Line {
        Line {
            id: entry.id,
            when: entry
                .occurred_at
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string(),
            points: entry.points,
            explanation: match lang {
                Lang::Zh => entry.explanation.zh.clone(),
                Lang::En => entry.explanation.en.clone(),
            },
            status: crate::web::api::status(entry),
            source: String::new(),
            reverses: entry.reverses,
            reversed_by: entry.reversed_by,
        }
    }

    /// With where it came from: `attendance.ontime v3`, or the name of who made it.
    pub fn with_source(
        entry: &Entry,
        lang: Lang,
        tz: &jiff::tz::TimeZone,
        names: &[(String, String)],
    ) -> Line {
        let source = match (&entry.rule_id, entry.rule_version, &entry.actor) {
            (_, _, Some(actor)) => names
                .iter()
                .find(|(userid, _)| userid == actor)
                .map_or_else(|| actor.clone(), |(_, name)| name.clone()),
            (Some(rule), Some(version), None) => format!("{rule} v{version}"),
            (Some(rule), None, None) => rule.clone(),
            (None, _, None) => String::new(),
        };
        Line {
            source,
            ..Line::of(entry, lang, tz)
        }
    }
}

/// The names of the people who made these entries (and whose they are), by userid: a few
/// lookups, not the whole address book.
pub async fn actor_names(
    store: &dyn Store,
    entries: &[Entry],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut people: Vec<&str> = entries
        .iter()
        .flat_map(|e| e.actor.as_deref().into_iter().chain([e.userid.as_str()]))
        .collect();
    people.sort_unstable();
    people.dedup();
    let mut names = Vec::with_capacity(people.len());
    for userid in people {
        if let Some(employee) = store.employee(userid).await? {
            names.push((employee.userid, employee.name));
        }
    }
    Ok(names)
}

pub async fn home(
    store: &dyn Store,
    boards: &LeaderboardIndex,
    me: &Employee,
    lang: Lang,
    now: Timestamp,
) -> Result<Home, ApiError> {
    let totals = store
        .account(&me.userid)
        .await?
        .map(|a| a.totals)
        .unwrap_or_default();
    let department = me.departments.first().cloned();
    let mut places = Vec::new();
    for window in [Window::Week, Window::Month, Window::Year] {
        let company = place(boards, &me.userid, window, None, None, now).await?;
        let team = match &department {
            Some(d) => place(boards, &me.userid, window, None, Some(d), now).await?,
            None => None,
        };
        places.push((
            window,
            company.map(|p| (p.0, p.1)),
            team.map(|p| (p.0, p.1)),
        ));
    }
    let this_week = place(boards, &me.userid, Window::Week, None, None, now)
        .await?
        .map_or(0, |p| p.2);
    let last_week = place(
        boards,
        &me.userid,
        Window::Week,
        Some("previous"),
        None,
        now,
    )
    .await?
    .map_or(0, |p| p.2);
    let department = match department {
        Some(id) => store.department(&id).await?.map(|d| d.name),
        None => None,
    };
    let tz = boards.calendar().time_zone().clone();
    let latest = store
        .entries(&me.userid, LATEST, None)
        .await?
        .iter()
        .map(|e| Line::of(e, lang, &tz))
        .collect();
    Ok(Home {
        name: me.name.clone(),
        totals,
        places,
        department,
        this_week,
        last_week,
        latest,
    })
}

/// The person's place on one board, how many are ranked on it, and their points there;
/// `None` when they are not ranked (no points yet, or left off the board).
async fn place(
    boards: &LeaderboardIndex,
    userid: &str,
    window: Window,
    period: Option<&str>,
    department: Option<&str>,
    now: Timestamp,
) -> Result<Option<(u32, usize, i64)>, ApiError> {
    let query = BoardQuery {
        window,
        period: period.map(str::to_string),
        department: department.map(str::to_string),
        limit: 0,
    };
    let standings = boards.people(&query, Some(userid), now).await?;
    Ok(standings
        .me
        .map(|me| (me.rank, standings.ranked, me.points)))
}
