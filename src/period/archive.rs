//! A closed month's frozen totals as a file for HR's spreadsheets: CSV (one line a person)
//! or XLSX (a sheet of people and one of departments), written by the CLI or served by the
//! HR console's links. The archive is read in pages, and each page is reported, so a long
//! export can show its progress.

use std::path::Path;

use crate::store::{DepartmentTotal, PeriodStore, PeriodTotal, StoreError};

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

/// A closed period's frozen totals, read whole.
#[derive(Debug, Clone)]
pub struct Archive {
    pub period: String,
    pub people: Vec<PeriodTotal>,
    pub departments: Vec<DepartmentTotal>,
}

/// Reads `period`'s frozen totals; `progress` hears how many people are read so far.
pub async fn read_archive(
    store: &dyn PeriodStore,
    period: &str,
    mut progress: impl FnMut(usize),
) -> Result<Archive, ArchiveError> {
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
    Ok(Archive {
        period: period.to_string(),
        people,
        departments: store.period_department_totals(period).await?,
    })
}

impl Archive {
    /// The archive as an XLSX workbook: a sheet of people and one of departments.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::Workbook;
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(format!("{} 个人", self.period))?;
        for (col, title) in PEOPLE_HEADER.iter().enumerate() {
            sheet.write_string(0, col as u16, *title)?;
        }
        for (i, p) in self.people.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &p.userid)?;
            sheet.write_string(row, 1, &p.name)?;
            // Points are whole numbers far below 2^53, exact as f64.
            for (col, n) in [p.score, p.balance, p.pending, p.entries]
                .iter()
                .enumerate()
            {
                sheet.write_number(row, col as u16 + 2, *n as f64)?;
            }
        }
        let sheet = book.add_worksheet();
        sheet.set_name(format!("{} 部门", self.period))?;
        for (col, title) in DEPARTMENT_HEADER.iter().enumerate() {
            sheet.write_string(0, col as u16, *title)?;
        }
        for (i, d) in self.departments.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &d.department_id)?;
            sheet.write_string(row, 1, &d.name)?;
            sheet.write_number(row, 2, d.score as f64)?;
            sheet.write_number(row, 3, d.members as f64)?;
        }
        book.save_to_buffer()
    }

    fn write_csv(&self, path: &Path) -> Result<(), csv::Error> {
        let mut out = csv::Writer::from_path(path)?;
        out.write_record(PEOPLE_HEADER)?;
        for p in &self.people {
            out.write_record([
                p.userid.clone(),
                p.name.clone(),
                p.score.to_string(),
                p.balance.to_string(),
                p.pending.to_string(),
                p.entries.to_string(),
            ])?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Writes `period`'s archive to `path`; `progress` hears how many people are read so far.
pub async fn write_archive(
    store: &dyn PeriodStore,
    period: &str,
    format: Format,
    path: &Path,
    progress: impl FnMut(usize),
) -> Result<ArchiveReport, ArchiveError> {
    let archive = read_archive(store, period, progress).await?;
    let failed = |reason: String| ArchiveError::Write {
        path: path.display().to_string(),
        reason,
    };
    match format {
        Format::Csv => archive.write_csv(path).map_err(|e| failed(e.to_string()))?,
        Format::Xlsx => {
            let bytes = archive.to_xlsx().map_err(|e| failed(e.to_string()))?;
            std::fs::write(path, bytes).map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(ArchiveReport {
        people: archive.people.len(),
        departments: archive.departments.len(),
    })
}
