//! HR's analytics for a period: how scores spread (bands), how departments compare (total,
//! per head, the share of people who earned anything, Gini), how often each rule fired and
//! which never did, and whether the pipes are healthy (failed inbox rows, dead letters, the
//! latest job runs), and closed months to export. Each figure is a table, and the main ones
//! a chart beside it.

use jiff::Timestamp;

use super::charts::{self, gini};
use crate::domain::{Calendar, Lang, Month};
use crate::export::ExportLinks;
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

pub struct Analytics {
    pub window: Window,
    /// e.g. `2026-11`; `None` for all time.
    pub period: Option<String>,
    pub bands: Vec<(String, i64)>,
    pub bands_svg: String,
    pub departments: Vec<DepartmentRow>,
    pub departments_svg: String,
    pub rules: Vec<RuleRow>,
    pub rules_svg: String,
    /// Rules that posted nothing in the period.
    pub never: Vec<String>,
    pub failed_inbox: usize,
    pub dead_outbox: usize,
    pub jobs: Vec<JobRun>,
    /// Closed months and a signed link to each one's CSV (none without export links).
    pub exports: Vec<(String, Option<String>)>,
}

pub struct DepartmentRow {
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

pub async fn analytics(
    Sources {
        store,
        boards,
        rules,
        calendar,
        export,
    }: Sources<'_>,
    (window, spec): (Window, Option<&str>),
    lang: Lang,
    now: Timestamp,
) -> Result<Analytics, ApiError> {
    let board = |department: Option<String>| BoardQuery {
        window,
        period: spec.map(str::to_string),
        department,
        limit: usize::MAX,
    };
    let everyone = boards.points(&board(None), now).await?;
    let mut bands: Vec<(String, i64)> = BANDS.iter().map(|(_, l)| (l.to_string(), 0)).collect();
    for points in everyone {
        let band = BANDS
            .iter()
            .rposition(|(low, _)| points >= *low)
            .unwrap_or(0);
        bands[band].1 += 1;
    }
    let departments = boards
        .departments(&board(None), DepartmentOrder::Total, now)
        .await?;
    let mut rows = Vec::new();
    for d in &departments.top {
        let points = boards
            .points(&board(Some(d.department_id.clone())), now)
            .await?;
        let earned = if points.is_empty() {
            0.0
        } else {
            100.0 * points.iter().filter(|&&p| p > 0).count() as f64 / points.len() as f64
        };
        rows.push(DepartmentRow {
            name: d.name.clone(),
            members: d.members,
            points: d.points,
            per_head: format!("{:.1}", d.per_head),
            earned: format!("{earned:.0}%"),
            gini: format!("{:.2}", gini(&points)),
        });
    }
    let period = resolve(calendar, window, spec, now)?;
    let (from, to) = match &period {
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
    let rule_points: Vec<(String, i64)> =
        by_rule.iter().map(|r| (r.name.clone(), r.points)).collect();
    Ok(Analytics {
        window,
        period: period.as_ref().map(|p| p.label()),
        bands_svg: chart(caption("积分分布（人数）", "People by points"), &bands)?,
        bands,
        departments_svg: chart(caption("部门人均积分", "Points per head"), &per_head)?,
        departments: rows,
        rules_svg: chart(caption("各规则积分", "Points by rule"), &rule_points)?,
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
                let link = Month::parse(&closed.period)
                    .zip(export)
                    .map(|(month, links)| links.link(month, now));
                (closed.period, link)
            })
            .collect(),
    })
}
