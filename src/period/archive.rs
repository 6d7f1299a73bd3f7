//! A closed month's frozen totals as a file for HR's spreadsheets: CSV (one line a person)
//! or XLSX (a sheet of people and one of departments). The archive is read in pages, and
//! each page is reported, so a long export can show its progress.

use std::path::Path;

use crate::store::{PeriodStore, PeriodTotal, StoreError};

const PAGE: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(format!("--format must be csv or xlsx, not {other:?}")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0} is not closed; close it first: jifen period close {0}")]
    NotClosed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveReport {
    pub people: usize,
    pub departments: usize,
}

const PEOPLE_HEADER: [&str; 6] = ["userid", "name", "score", "balance", "pending", "entries"];
const DEPARTMENT_HEADER: [&str; 4] = ["department_id", "name", "score", "members"];

/// Writes `period`'s archive to `path`; `progress` hears how many people are read so far.
pub async fn write_archive(
    store: &dyn PeriodStore,
    period: &str,
    format: Format,
    path: &Path,
    mut progress: impl FnMut(usize),
) -> Result<ArchiveReport, ArchiveError> {
    if store.period_close(period).await?.is_none() {
        return Err(ArchiveError::NotClosed(period.to_string()));
    }
    let mut people: Vec<PeriodTotal> = Vec::new();
    loop {
        let after = people.last().map_or(String::new(), |p| p.userid.clone());
        let page = store.period_totals(period, &after, PAGE).await?;
        let done = (page.len() as i64) < PAGE;
        people.extend(page);
        progress(people.len());
        if done {
            break;
        }
    }
    let departments = store.period_department_totals(period).await?;
    let failed = |reason: String| ArchiveError::Write {
        path: path.display().to_string(),
        reason,
    };
    match format {
        Format::Csv => {
            let mut out = csv::Writer::from_path(path).map_err(|e| failed(e.to_string()))?;
            out.write_record(PEOPLE_HEADER)
                .map_err(|e| failed(e.to_string()))?;
            for p in &people {
                out.write_record([
                    p.userid.clone(),
                    p.name.clone(),
                    p.score.to_string(),
                    p.balance.to_string(),
                    p.pending.to_string(),
                    p.entries.to_string(),
                ])
                .map_err(|e| failed(e.to_string()))?;
            }
            out.flush().map_err(|e| failed(e.to_string()))?;
        }
        Format::Xlsx => {
            use rust_xlsxwriter::Workbook;
            let mut book = Workbook::new();
            let xlsx = |e: rust_xlsxwriter::XlsxError| failed(e.to_string());
            let sheet = book.add_worksheet();
            sheet.set_name(format!("{period} 个人")).map_err(xlsx)?;
            for (col, title) in PEOPLE_HEADER.iter().enumerate() {
                sheet.write_string(0, col as u16, *title).map_err(xlsx)?;
            }
            for (i, p) in people.iter().enumerate() {
                let row = i as u32 + 1;
                sheet.write_string(row, 0, &p.userid).map_err(xlsx)?;
                sheet.write_string(row, 1, &p.name).map_err(xlsx)?;
                // Points are whole numbers far below 2^53, exact as f64.
                for (col, n) in [p.score, p.balance, p.pending, p.entries]
                    .iter()
                    .enumerate()
                {
                    sheet
                        .write_number(row, col as u16 + 2, *n as f64)
                        .map_err(xlsx)?;
                }
            }
            let sheet = book.add_worksheet();
            sheet.set_name(format!("{period} 部门")).map_err(xlsx)?;
            for (col, title) in DEPARTMENT_HEADER.iter().enumerate() {
                sheet.write_string(0, col as u16, *title).map_err(xlsx)?;
            }
            for (i, d) in departments.iter().enumerate() {
                let row = i as u32 + 1;
                sheet.write_string(row, 0, &d.department_id).map_err(xlsx)?;
                sheet.write_string(row, 1, &d.name).map_err(xlsx)?;
                sheet.write_number(row, 2, d.score as f64).map_err(xlsx)?;
                sheet.write_number(row, 3, d.members as f64).map_err(xlsx)?;
            }
            book.save(path).map_err(xlsx)?;
        }
    }
    Ok(ArchiveReport {
        people: people.len(),
        departments: departments.len(),
    })
}
