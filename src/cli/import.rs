//! `jifen import FILE.csv|FILE.xlsx --kind awards|events`: rows of a spreadsheet into the
//! ledger. Every row is checked first and every bad one reported with its line and column;
//! nothing is written unless all are good (or `--skip-invalid`, which lists what it skips).
//! Each row's identity is its content, so importing the same file twice posts nothing more.

use crate::say;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::bot::command::MAX_POINTS;
use crate::config::Config;
use crate::domain::{Calendar, DomainEvent, FieldType};
use crate::ledger::{self, ManualPost, Posting};
use crate::outbox;
use crate::rules::RuleSet;

/// What the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKind {
    /// userid, points (negative deducts), reason, actor[, category]
    Awards,
    /// type, userid[, occurred_at][, id], then the event type's fields
    Events,
}

/// A sheet as read: its header and its rows, each with its line in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// One thing wrong with one cell (or row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    /// The column's letter and name, e.g. `C (points)`; empty for the whole row.
    pub column: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

/// An award or deduction a row asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardRow {
    pub userid: String,
    pub points: i64,
    pub reason: String,
    pub actor: String,
    pub category: String,
    /// The row's identity: the same row imported again posts nothing more.
    pub source_key: String,
}

/// What checking a sheet found: the good rows (line, what they ask) and the problems.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    pub rows: Vec<(usize, T)>,
    pub problems: Vec<Problem>,
}

impl<T> Default for Checked<T> {
    fn default() -> Self {
        Checked {
            rows: vec![],
            problems: vec![],
        }
    }
}

impl<T> Checked<T> {
    /// A sheet refused whole (its header), with no rows.
    fn refused(problem: Problem) -> Self {
        Checked {
            rows: vec![],
            problems: vec![problem],
        }
    }
}

/// A column's spreadsheet letter: A, B, … Z, AA.
fn letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        out.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Where each known column is, by its names (English or Chinese), and the others.
struct Columns {
    at: HashMap<&'static str, usize>,
    header: Vec<String>,
}

impl Columns {
    fn find(
        header: &[String],
        known: &[(&'static str, &[&str])],
        required: &[&'static str],
    ) -> Result<Columns, Problem> {
        let mut at = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().to_lowercase();
            if let Some((key, _)) = known
                .iter()
                .find(|(key, aliases)| *key == name || aliases.contains(&name.as_str()))
            {
                at.insert(*key, i);
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .filter(|k| !at.contains_key(*k))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(Problem {
                line: 1,
                column: String::new(),
                message: format!(
                    "the header lacks {}; it has {}",
                    missing.join(", "),
                    header.join(", ")
                ),
            });
        }
        Ok(Columns {
            at,
            header: header.to_vec(),
        })
    }

    fn name(&self, index: usize) -> String {
        format!(
            "{} ({})",
            letter(index),
            self.header.get(index).map(String::as_str).unwrap_or("")
        )
    }

    fn cell<'a>(&self, row: &'a [String], key: &str) -> Option<(usize, &'a str)> {
        let i = *self.at.get(key)?;
        Some((i, row.get(i).map(|s| s.trim()).unwrap_or("")))
    }
}

const AWARD_COLUMNS: &[(&str, &[&str])] = &[
    ("userid", &["员工", "对象", "用户"]),
    ("points", &["积分", "分数"]),
    ("reason", &["事由", "原因"]),
    ("actor", &["操作人", "发起人"]),
    ("category", &["类别", "分类"]),
];

/// Checks every row of an awards sheet against the people jifen knows.
pub fn check_awards(sheet: &Sheet, known: &HashSet<String>) -> Checked<AwardRow> {
    let columns = match Columns::find(
        &sheet.header,
        AWARD_COLUMNS,
        &["userid", "points", "reason", "actor"],
    ) {
        Ok(c) => c,
        Err(p) => return Checked::refused(p),
    };
    let mut checked = Checked::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, row) in &sheet.rows {
        let mut wrong = |i: usize, message: String| {
            checked.problems.push(Problem {
                line: *line,
                column: columns.name(i),
                message,
            })
        };
        let text = |key| columns.cell(row, key).unwrap_or((0, ""));
        let (ui, userid) = text("userid");
        let (pi, points) = text("points");
        let (ri, reason) = text("reason");
        let (ai, actor) = text("actor");
        let mut ok = true;
        if userid.is_empty() {
            wrong(ui, "no userid".into());
            ok = false;
        } else if !known.contains(userid) {
            wrong(ui, format!("{userid:?} is not in jifen's address book"));
            ok = false;
        }
        let points = match crate::bot::command::whole_number(points) {
            Some(p) if p != 0 && p.abs() <= MAX_POINTS => Some(p),
            Some(_) => {
                wrong(
                    pi,
                    format!("points must be 1 to {MAX_POINTS}, or -1 to -{MAX_POINTS} to deduct"),
                );
                None
            }
            None => {
                wrong(
                    pi,
                    format!("points must be a whole number, found {points:?}"),
                );
                None
            }
        };
        if reason.is_empty() {
            wrong(ri, "no reason: the person is told why".into());
            ok = false;
        }
        if actor.is_empty() {
            wrong(ai, "no actor: who awards is in the audit trail".into());
            ok = false;
        }
        let category = columns
            .cell(row, "category")
            .map(|(_, c)| c)
            .filter(|c| !c.is_empty())
            .unwrap_or("manual");
        if let (true, Some(points)) = (ok, points) {
            checked.rows.push((
                *line,
                AwardRow {
                    userid: userid.into(),
                    points,
                    reason: reason.into(),
                    actor: actor.into(),
                    category: category.into(),
                    source_key: row_identity("import:award", row, &mut seen),
                },
            ));
        }
    }
    checked
}

const EVENT_COLUMNS: &[(&str, &[&str])] = &[
    ("type", &["类型", "事件"]),
    ("userid", &["员工", "对象", "用户"]),
    ("occurred_at", &["时间", "发生时间"]),
    ("id", &["编号"]),
];

/// Checks every row of an events sheet: a type the rules file declares, and each of its
/// fields (the other columns) of the right kind.
pub fn check_events(
    sheet: &Sheet,
    rules: &RuleSet,
    calendar: &Calendar,
    known: &HashSet<String>,
) -> Checked<DomainEvent> {
    let columns = match Columns::find(&sheet.header, EVENT_COLUMNS, &["type", "userid"]) {
        Ok(c) => c,
        Err(p) => return Checked::refused(p),
    };
    let own: HashSet<usize> = columns.at.values().copied().collect();
    let mut checked = Checked::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, row) in &sheet.rows {
        let before = checked.problems.len();
        let mut wrong = |i: usize, message: String| {
            checked.problems.push(Problem {
                line: *line,
                column: columns.name(i),
                message,
            })
        };
        let text = |key| columns.cell(row, key).unwrap_or((0, ""));
        let (ti, kind) = text("type");
        let (ui, userid) = text("userid");
        let declared = rules.event_type(kind);
        if declared.is_none() {
            let known: Vec<&str> = rules.event_types.iter().map(|t| t.kind.as_str()).collect();
            wrong(
                ti,
                format!(
                    "unknown event type {kind:?}; the rules file declares {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        if !known.contains(userid) {
            wrong(ui, format!("{userid:?} is not in jifen's address book"));
        }
        let occurred_at = match columns.cell(row, "occurred_at") {
            None | Some((_, "")) => Some(Timestamp::now()),
            Some((i, at)) => match parse_time(at, calendar) {
                Some(t) => Some(t),
                None => {
                    wrong(
                        i,
                        format!(
                            "{at:?} is not a time like 2026-11-03 09:30 or 2026-11-03T01:30:00Z"
                        ),
                    );
                    None
                }
            },
        };
        let mut data = Map::new();
        if let Some(declared) = declared {
            for (field, kind) in &declared.fields {
                let Some(i) = sheet.header.iter().position(|h| h.trim() == field) else {
                    wrong(0, format!("{} needs a column {field:?}", declared.kind));
                    continue;
                };
                let cell = row.get(i).map(|s| s.trim()).unwrap_or("");
                match cell_value(cell, *kind) {
                    Some(v) => {
                        data.insert(field.clone(), v);
                    }
                    None => wrong(
                        i,
                        format!("{field} must be a {}, found {cell:?}", kind.name()),
                    ),
                }
            }
            for (i, name) in sheet.header.iter().enumerate() {
                let filled = row.get(i).is_some_and(|c| !c.trim().is_empty());
                if !own.contains(&i)
                    && filled
                    && !declared.fields.iter().any(|(f, _)| f == name.trim())
                {
                    wrong(
                        i,
                        format!("{} has no field {:?}", declared.kind, name.trim()),
                    );
                }
            }
        }
        if checked.problems.len() > before {
            continue;
        }
        let Some(occurred_at) = occurred_at else {
            continue;
        };
        let identity = match columns.cell(row, "id") {
            Some((_, id)) if !id.is_empty() => format!("import:{kind}:{id}"),
            _ => row_identity(&format!("import:{kind}"), row, &mut seen),
        };
        checked.rows.push((
            *line,
            DomainEvent {
                kind: kind.to_string(),
                source_key: identity,
                userid: userid.to_string(),
                occurred_at,
                departments: vec![],
                data,
            },
        ));
    }
    checked
}

/// A row's identity from its content, numbered when the same row appears again: the same
/// file imported twice gives the same identities.
fn row_identity(prefix: &str, row: &[String], seen: &mut HashMap<String, usize>) -> String {
    let mut hash = Sha256::new();
    for cell in row {
        hash.update(cell.trim().as_bytes());
        hash.update([0]);
    }
    let digest: String = hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let n = seen.entry(digest.clone()).or_default();
    *n += 1;
    format!("{prefix}:{digest}:{n}")
}

fn cell_value(cell: &str, kind: FieldType) -> Option<Value> {
    match kind {
        FieldType::Text => (!cell.is_empty()).then(|| Value::String(cell.into())),
        FieldType::Number => cell.parse::<i64>().map(Value::from).ok().or_else(|| {
            cell.parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
        }),
        FieldType::Flag => match cell.to_lowercase().as_str() {
            "true" | "yes" | "1" | "是" => Some(Value::Bool(true)),
            "false" | "no" | "0" | "否" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

/// RFC 3339, or a local `2026-11-03 09:30[:00]` in the organisation's time zone.
fn parse_time(text: &str, calendar: &Calendar) -> Option<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    let local: jiff::civil::DateTime = text.replace(' ', "T").parse().ok()?;
    local
        .to_zoned(calendar.time_zone().clone())
        .ok()
        .map(|z| z.timestamp())
}

/// An Excel date-time (days since 1899-12-30, the fraction the time of day) as local
/// `2026-11-03 09:30:00`.
fn excel_time(serial: f64) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    jiff::civil::date(1899, 12, 30)
        .at(0, 0, 0, 0)
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Reads a CSV (UTF-8, a BOM allowed) or the first sheet of an XLSX workbook.
pub fn read_sheet(path: &Path) -> anyhow::Result<Sheet> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase);
    let mut lines: Vec<(usize, Vec<String>)> = match extension.as_deref() {
        Some("csv") => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let mut lines = Vec::new();
            for record in reader.records() {
                let record =
                    record.with_context(|| format!("{} is not valid CSV", path.display()))?;
                let line = record.position().map_or(0, |p| p.line() as usize);
                lines.push((line, record.iter().map(str::to_string).collect()));
            }
            lines
        }
        Some("xlsx") => {
            use calamine::{Data, Reader, open_workbook_auto};
            let mut workbook = open_workbook_auto(path)
                .with_context(|| format!("cannot open {} as a workbook", path.display()))?;
            let range = workbook
                .worksheet_range_at(0)
                .with_context(|| format!("{} has no sheet", path.display()))?
                .with_context(|| format!("cannot read the first sheet of {}", path.display()))?;
            let first_row = range.start().map_or(0, |(r, _)| r as usize);
            range
                .rows()
                .enumerate()
                .map(|(i, cells)| {
                    let cells = cells
                        .iter()
                        .map(|c| match c {
                            Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                            Data::DateTime(d) => excel_time(d.as_f64()),
                            other => other.to_string(),
                        })
                        .collect();
                    (first_row + i + 1, cells)
                })
                .collect()
        }
        _ => bail!(
            "{} is neither .csv nor .xlsx; save the spreadsheet as one of them",
            path.display()
        ),
    };
    lines.retain(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    if lines.is_empty() {
        bail!(
            "{} is empty: it needs a header row and rows",
            path.display()
        );
    }
    let (_, header) = lines.remove(0);
    Ok(Sheet {
        header,
        rows: lines,
    })
}

pub(super) async fn import(
    config: &Config,
    file: &Path,
    kind: ImportKind,
    dry_run: bool,
    skip_invalid: bool,
) -> anyhow::Result<ExitCode> {
    let sheet = read_sheet(file)?;
    let store = crate::app::open_store(config).await?;
    let known: HashSet<String> = store
        .employee_names()
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let calendar = config.calendar()?;
    let rules = Arc::new(crate::rules::load_rules_file(&config.rules_path())?);
    let result = match kind {
        ImportKind::Awards => {
            let checked = check_awards(&sheet, &known);
            let threshold = config.bot_settings()?.review_threshold;
            apply(
                checked,
                dry_run,
                skip_invalid,
                |row, tx, now| {
                    let post = ManualPost {
                        actor: row.actor.clone(),
                        userid: row.userid.clone(),
                        points: row.points,
                        reason: row.reason.clone(),
                        category: row.category.clone(),
                        source_key: row.source_key.clone(),
                        review: row.points.abs() > threshold,
                        occurred_at: now,
                    };
                    Box::pin(async move {
                        let posting = ledger::post_manual(tx, &post, now).await?;
                        if let Posting::Posted(entry) = &posting {
                            tx.enqueue_outbox(&outbox::change_notification(
                                entry,
                                "积分变动（批量导入）",
                                "Points changed (imported)",
                            ))
                            .await?;
                            return Ok(true);
                        }
                        Ok(false)
                    })
                },
                store.as_ref(),
            )
            .await
        }
        ImportKind::Events => {
            let checked = check_events(&sheet, &rules, &calendar, &known);
            let badging = config.badging(&rules)?;
            let (rules, calendar) = (rules.clone(), calendar.clone());
            apply(
                checked,
                dry_run,
                skip_invalid,
                |event, tx, now| {
                    let (rules, calendar, badging) =
                        (rules.clone(), calendar.clone(), badging.clone());
                    let event = event.clone();
                    Box::pin(async move {
                        let posting =
                            outbox::post_and_tell(tx, &rules, &badging, &calendar, &event, now)
                                .await?;
                        Ok(posting.posted().next().is_some())
                    })
                },
                store.as_ref(),
            )
            .await
        }
    };
    store.close().await;
    result
}

type Write<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<bool>> + Send + 'a>>;

/// Reports the problems, then (unless a dry run, or problems without `--skip-invalid`)
/// writes each good row in its own transaction, with progress on long files.
async fn apply<T>(
    checked: Checked<T>,
    dry_run: bool,
    skip_invalid: bool,
    write: impl for<'t> Fn(&'t T, &'t mut dyn crate::store::StoreTx, Timestamp) -> Write<'t>,
    store: &dyn crate::store::Store,
) -> anyhow::Result<ExitCode> {
    for problem in &checked.problems {
        eprintln!("{problem}");
    }
    let bad_lines: HashSet<usize> = checked.problems.iter().map(|p| p.line).collect();
    if !checked.problems.is_empty() && !skip_invalid {
        eprintln!(
            "{} rows have problems; nothing was imported. Fix them, or pass --skip-invalid to import the {} good rows",
            bad_lines.len(),
            checked.rows.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    if dry_run {
        say!(
            "dry run: {} rows would be imported, {} skipped; nothing was written",
            checked.rows.len(),
            bad_lines.len()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let (mut posted, mut already) = (0, 0);
    let total = checked.rows.len();
    for (n, (line, row)) in checked.rows.iter().enumerate() {
        let now = Timestamp::now();
        let mut tx = store.begin().await?;
        let new = write(row, tx.as_mut(), now)
            .await
            .with_context(|| format!("line {line} could not be imported"))?;
        tx.commit().await?;
        if new {
            posted += 1;
        } else {
            already += 1;
        }
        if (n + 1) % 500 == 0 {
            eprintln!("  {} of {total} rows imported", n + 1);
        }
    }
    say!(
        "{total} rows: {posted} imported, {already} imported before, {} skipped",
        bad_lines.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(header: &[&str], rows: &[&[&str]]) -> Sheet {
        Sheet {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| (i + 2, r.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn excel_times_are_local_date_times() {
        assert_eq!(excel_time(46329.395833333336), "2026-11-03 09:30:00");
        assert_eq!(excel_time(1.0), "1899-12-31 00:00:00");
    }

    #[test]
    fn columns_are_lettered_as_spreadsheets_do() {
        let cases = [
            (0, "A"),
            (2, "C"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (701, "ZZ"),
            (702, "AAA"),
        ];
        for (i, want) in cases {
            assert_eq!(letter(i), want, "{i}");
        }
    }

    #[test]
    fn every_bad_award_row_is_reported_with_its_line_and_column() {
        let known: HashSet<String> = ["lina", "zhangwei"].map(String::from).into();
        let s = sheet(
            &["员工", "积分", "事由", "操作人"],
            &[
                &["lina", "5", "季度之星", "hr"],
                &["nobody", "5", "x", "hr"],
                &["lina", "five", "x", "hr"],
                &["lina", "0", "", "hr"],
                &["zhangwei", "-3", "迟交周报", ""],
                &["zhangwei", "-3", "迟交周报", "hr"],
            ],
        );
        let checked = check_awards(&s, &known);
        let said: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "line 3, column A (员工): \"nobody\" is not in jifen's address book",
                "line 4, column B (积分): points must be a whole number, found \"five\"",
                "line 5, column B (积分): points must be 1 to 100000, or -1 to -100000 to deduct",
                "line 5, column C (事由): no reason: the person is told why",
                "line 6, column D (操作人): no actor: who awards is in the audit trail",
            ]
        );
        let good: Vec<(usize, i64)> = checked.rows.iter().map(|(l, r)| (*l, r.points)).collect();
        assert_eq!(good, [(2, 5), (7, -3)]);
        let missing = check_awards(&sheet(&["userid", "points"], &[]), &known);
        assert!(
            missing.problems[0]
                .to_string()
                .contains("the header lacks reason, actor")
        );
    }

    #[test]
    fn event_rows_must_fit_their_declared_type() {
        let rules = crate::rules::load_rules(
            "[[event_type]]\nname = \"lms.course_completed\"\nfields = { course = \"text\", hours = \"number\" }\n",
        )
        .unwrap();
        let calendar = Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap();
        let known: HashSet<String> = ["lina"].map(String::from).into();
        let s = sheet(
            &["type", "userid", "occurred_at", "course", "hours", "grade"],
            &[
                &[
                    "lms.course_completed",
                    "lina",
                    "2026-11-03 09:30",
                    "数据安全",
                    "2",
                    "",
                ],
                &[
                    "lms.course_completed",
                    "lina",
                    "2026-11-03 09:30",
                    "数据安全",
                    "2",
                    "",
                ],
                &[
                    "lms.course_completed",
                    "lina",
                    "yesterday",
                    "数据安全",
                    "two",
                    "A",
                ],
                &["lms.exam_passed", "lina", "", "x", "1", ""],
            ],
        );
        let checked = check_events(&s, &rules, &calendar, &known);
        let said: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "line 4, column C (occurred_at): \"yesterday\" is not a time like 2026-11-03 09:30 or 2026-11-03T01:30:00Z",
                "line 4, column E (hours): hours must be a number, found \"two\"",
                "line 4, column F (grade): lms.course_completed has no field \"grade\"",
                "line 5, column A (type): unknown event type \"lms.exam_passed\"; the rules file declares lms.course_completed",
            ]
        );
        assert_eq!(checked.rows.len(), 2);
        let (a, b) = (&checked.rows[0].1, &checked.rows[1].1);
        assert_ne!(a.source_key, b.source_key, "identical rows are two events");
        assert_eq!(a.occurred_at.to_string(), "2026-11-03T01:30:00Z");
        assert_eq!(a.data["hours"], 2);
        let again = check_events(&s, &rules, &calendar, &known);
        assert_eq!(
            again.rows[1].1.source_key, b.source_key,
            "the same file, the same identities"
        );
    }
}
