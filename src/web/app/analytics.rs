//! HR's and managers' analytics for a period and a department: how scores spread (bands), how
//! its departments compare (total, per head, the share of people who earned anything, Gini)
//! and how they went month by month; for HR and auditors also how often each rule fired and
//! which never did, whether the pipes are healthy, and closed months to export. Each figure
//! is a table, and the main ones a chart beside it.

use jiff::Timestamp;

use super::charts::{self, gini};
use crate::domain::calendar::{Period, PeriodKind};
use crate::domain::{Calendar, Closable, Lang};
use crate::export::{Download, ExportLinks};
use crate::leaderboard::window::resolve;
use crate::leaderboard::{BoardQuery, DepartmentOrder, LeaderboardIndex, Window};
use crate::rules::RuleSet;
use crate::store::{JobRun, Store};
use crate::web::ApiError;

/// Score bands, by their lower bound; a person's points in the period fall in one.
const BANDS: [(i64, &str); 7] = [
    (i64::MIN, "<0"),
    (0, "0"),
    (1, "1–9"),
    (10, "10–19"),
    (20, "20–49"),
    (50, "50–99"),
    (100, "100+"),
];

/// Months the trend shows, the analysed one last: as many as the boards keep.
const TREND_MONTHS: usize = crate::leaderboard::MONTHS_KEPT;

pub struct Analytics {
    pub window: Window,
    /// e.g. `2026-11`; `None` for all time.
    pub period: Option<String>,
    /// The department analysed; `None` for the whole organisation.
    pub department: Option<String>,
    pub bands: Vec<(String, i64)>,
    pub bands_svg: String,
    pub departments: Vec<DepartmentRow>,
    pub departments_svg: String,
    pub trend: Trend,
    /// What only HR and auditors see; `None` for a manager.
    pub company: Option<Company>,
}

/// Each department's points in each of the months up to the analysed period.
pub struct Trend {
    pub months: Vec<String>,
    /// A row a department, in the comparison's order, a value a month.
    pub rows: Vec<(String, Vec<i64>)>,
    pub svg: String,
}

/// The organisation's rules, pipes and archives.
pub struct Company {
    pub rules: Vec<RuleRow>,
    pub rules_svg: String,
    /// Rules that posted nothing in the period.
    pub never: Vec<String>,
    pub failed_inbox: usize,
    pub dead_outbox: usize,
    pub jobs: Vec<JobRun>,
    /// Closed months and their signed links (none without export links).
    pub exports: Vec<Export>,
}

pub struct Export {
    pub month: String,
    /// The month's entries, as CSV.
    pub entries: Option<String>,
    /// The frozen totals, as XLSX.
    pub archive: Option<String>,
}

pub struct DepartmentRow {
    pub department_id: String,
    pub name: String,
    pub members: u32,
    pub points: i64,
    pub per_head: String,
    /// Of the ranked people, the share with more than 0 points, in percent.
    pub earned: String,
    pub gini: String,
}

pub struct RuleRow {
    pub name: String,
    pub entries: i64,
    pub points: i64,
}

/// Rows read at most for a health count.
const HEALTH_LIMIT: i64 = 10_000;

/// Where the figures come from: the ledger, the boards, the rules and the export links.
pub struct Sources<'a> {
    pub store: &'a dyn Store,
    pub boards: &'a LeaderboardIndex,
    pub rules: &'a RuleSet,
    pub calendar: &'a Calendar,
    pub export: Option<&'a ExportLinks>,
}

/// Closed months listed with their export links.
const EXPORTS: i64 = 12;

/// What is analysed: a window's period, a department (or all), and whether the
/// organisation-wide sections are shown (HR and auditors; the caller decides who may).
pub struct Scope<'a> {
    pub window: Window,
    pub period: Option<&'a str>,
    pub department: Option<&'a str>,
    pub company: bool,
}

pub async fn analytics(
    sources: Sources<'_>,
    scope: Scope<'_>,
    lang: Lang,
    now: Timestamp,
) -> Result<Analytics, ApiError> {
    let Sources {
        boards, calendar, ..
    } = sources;
    let board = |department: Option<&str>| BoardQuery {
        window: scope.window,
        period: scope.period.map(str::to_string),
        department: department.map(str::to_string),
        limit: usize::MAX,
    };
    let everyone = boards.points(&board(scope.department), now).await?;
    let mut bands: Vec<(String, i64)> = BANDS.iter().map(|(_, l)| (l.to_string(), 0)).collect();
    for points in everyone {
        let band = BANDS
            .iter()
            .rposition(|(low, _)| points >= *low)
            .unwrap_or(0);
        bands[band].1 += 1;
    }
    let departments = boards
        .departments(&board(scope.department), DepartmentOrder::Total, now)
        .await?;
    let mut rows = Vec::new();
    for d in &departments.top {
        let points = boards.points(&board(Some(&d.department_id)), now).await?;
        let earned = if points.is_empty() {
            0.0
        } else {
            100.0 * points.iter().filter(|&&p| p > 0).count() as f64 / points.len() as f64
        };
        rows.push(DepartmentRow {
            department_id: d.department_id.clone(),
            name: d.name.clone(),
            members: d.members,
            points: d.points,
            per_head: format!("{:.1}", d.per_head),
            earned: format!("{earned:.0}%"),
            gini: format!("{:.2}", gini(&points)),
        });
    }
    let period = resolve(calendar, scope.window, scope.period, now)?;
    let caption = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    let chart = |title: String, data: &[(String, i64)]| {
        charts::bars(&title, data).map_err(|e| ApiError::Unavailable(e.to_string()))
    };
    let per_head: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.per_head.parse::<f64>().unwrap_or(0.0).round() as i64,
            )
        })
        .collect();
    let trend = trend(boards, calendar, &rows, &scope, period.as_ref(), now).await?;
    let trend_svg = charts::lines(
        &caption("各部门月度积分", "Points by month"),
        &trend.0,
        &trend.1,
    )
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let company = match scope.company {
        true => Some(company(&sources, period.as_ref(), lang, now).await?),
        false => None,
    };
    Ok(Analytics {
        window: scope.window,
        period: period.as_ref().map(|p| p.label()),
        department: scope.department.map(str::to_string),
        bands_svg: chart(caption("积分分布（人数）", "People by points"), &bands)?,
        bands,
        departments_svg: chart(caption("部门人均积分", "Points per head"), &per_head)?,
        departments: rows,
        trend: Trend {
            months: trend.0,
            rows: trend.1,
            svg: trend_svg,
        },
        company,
    })
}

/// The months up to the analysed period (or now), and each compared department's points in
/// them; a department without sub-departments is its own single row. The latest months'
/// boards are always kept; earlier ones are built together, once, and then kept a while.
async fn trend(
    boards: &LeaderboardIndex,
    calendar: &Calendar,
    rows: &[DepartmentRow],
    scope: &Scope<'_>,
    period: Option<&Period>,
    now: Timestamp,
) -> Result<(Vec<String>, Vec<(String, Vec<i64>)>), ApiError> {
    let anchor = period.map_or(now, |p| {
        (p.end - jiff::SignedDuration::from_millis(1)).min(now)
    });
    let mut month = calendar
        .period_containing(PeriodKind::Month, anchor)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut months = vec![month.clone()];
    while months.len() < TREND_MONTHS {
        month = crate::leaderboard::window::previous(calendar, &month)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        months.push(month.clone());
    }
    months.reverse();
    boards.prepare(Window::Month, &months).await?;
    let query = |month: &Period, department: Option<&str>| BoardQuery {
        window: Window::Month,
        period: Some(month.label()),
        department: department.map(str::to_string),
        limit: usize::MAX,
    };
    let mut series: Vec<(String, Vec<i64>)> = rows
        .iter()
        .map(|r| (r.name.clone(), Vec::with_capacity(months.len())))
        .collect();
    for month in &months {
        if rows.is_empty() {
            break;
        }
        let standings = boards
            .departments(&query(month, scope.department), DepartmentOrder::Total, now)
            .await?;
        for (row, (_, values)) in rows.iter().zip(&mut series) {
            let points = standings
                .top
                .iter()
                .find(|d| d.department_id == row.department_id)
                .map_or(0, |d| d.points);
            values.push(points);
        }
    }
    if let (true, Some(department)) = (rows.is_empty(), scope.department) {
        let name = boards
            .department_path(department)
            .await?
            .into_iter()
            .next()
            .map_or_else(|| department.to_string(), |(_, name)| name);
        let mut values = Vec::with_capacity(months.len());
        for month in &months {
            values.push(
                boards
                    .points(&query(month, Some(department)), now)
                    .await?
                    .iter()
                    .sum(),
            );
        }
        series.push((name, values));
    }
    Ok((months.iter().map(Period::label).collect(), series))
}

/// Rule attainment, the pipes' health and the closed months, for the whole organisation.
async fn company(
    Sources {
        store,
        rules,
        export,
        ..
    }: &Sources<'_>,
    period: Option<&Period>,
    lang: Lang,
    now: Timestamp,
) -> Result<Company, ApiError> {
    let (from, to) = match period {
        Some(p) => (p.start, p.end),
        None => (Timestamp::UNIX_EPOCH, now),
    };
    let totals = store.rule_totals(from, to).await?;
    let name = |id: &str| {
        rules.get(id).map_or_else(
            || id.to_string(),
            |r| match lang {
                Lang::Zh => r.name.clone(),
                Lang::En => r.name_en.clone(),
            },
        )
    };
    let mut by_rule: Vec<RuleRow> = totals
        .iter()
        .map(|t| RuleRow {
            name: name(&t.rule_id),
            entries: t.entries,
            points: t.points,
        })
        .collect();
    by_rule.sort_by(|a, b| b.entries.cmp(&a.entries).then_with(|| a.name.cmp(&b.name)));
    let never = rules
        .rules
        .iter()
        .filter(|r| !totals.iter().any(|t| t.rule_id == r.id))
        .map(|r| name(&r.id))
        .collect();
    let rule_points: Vec<(String, i64)> =
        by_rule.iter().map(|r| (r.name.clone(), r.points)).collect();
    let link = |month: Option<Closable>, download| {
        month
            .zip(*export)
            .map(|(month, links)| links.link(month, download, now))
    };
    Ok(Company {
        rules_svg: charts::bars(lang.pick("各规则积分", "Points by rule"), &rule_points)
            .map_err(|e| ApiError::Unavailable(e.to_string()))?,
        rules: by_rule,
        never,
        failed_inbox: store.inbox(Some("failed"), HEALTH_LIMIT).await?.len(),
        dead_outbox: store.outbox(Some("dead"), HEALTH_LIMIT).await?.len(),
        jobs: store.job_runs(None, 8).await?,
        exports: store
            .closed_periods(EXPORTS)
            .await?
            .into_iter()
            .map(|closed| {
                let month = Closable::parse(&closed.period);
                Export {
                    entries: link(month, Download::Entries),
                    archive: link(month, Download::Archive),
                    month: closed.period,
                }
            })
            .collect(),
    })
}
