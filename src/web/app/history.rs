//! The employee's history: every entry of a month, newest first, optionally of one category,
//! each with the rule and version that posted it or the person who made it, and why;
//! a reversal names what it reverses, and what was reversed says by which entry.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::home::{Line, actor_names};
use crate::domain::calendar::PeriodKind;
use crate::domain::{Calendar, Lang, Month};
use crate::rules::RuleSet;
use crate::store::Store;
use crate::web::ApiError;

/// A month of one person's entries is at most this many (a few a day, even for the busiest).
const MONTH_LIMIT: i64 = 2_000;

pub struct History {
    pub month: Month,
    pub previous: Month,
    pub next: Option<Month>,
    pub category: String,
    /// Every category a rule posts in, and `manual`.
    pub categories: Vec<String>,
    pub lines: Vec<Line>,
}

/// Which entries: a month's, of one category or (empty) all.
pub struct Filter<'a> {
    pub month: Month,
    pub category: &'a str,
}

pub async fn history(
    store: &dyn Store,
    rules: &RuleSet,
    calendar: &Calendar,
    userid: &str,
    Filter { month, category }: Filter<'_>,
    lang: Lang,
    now: Timestamp,
) -> Result<History, ApiError> {
    let period = calendar
        .period_of(PeriodKind::Month, month.first_day())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut entries = store
        .entries_between(Some(userid), period.start, period.end, 0, MONTH_LIMIT)
        .await?;
    entries.retain(|e| category.is_empty() || e.category == category);
    entries.reverse();
    let names = actor_names(store, &entries).await?;
    let tz = calendar.time_zone();
    let lines = entries
        .iter()
        .map(|e| Line::with_source(e, lang, tz, &names))
        .collect();
    let mut categories: BTreeSet<String> = rules.rules.iter().map(|r| r.category.clone()).collect();
    categories.insert("manual".into());
    let this_month = Month::of(calendar.local_date(now));
    let step = |day: jiff::civil::Date| Month::of(day);
    let previous = month.first_day().yesterday().map(step).unwrap_or(month);
    let next = month
        .first_day()
        .last_of_month()
        .tomorrow()
        .ok()
        .map(step)
        .filter(|m| *m <= this_month);
    Ok(History {
        month,
        previous,
        next,
        category: category.to_string(),
        categories: categories.into_iter().collect(),
        lines,
    })
}
