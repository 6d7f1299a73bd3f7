//! `jifen period close` and `jifen export --period`: closing a month, quarter or year by
//! hand, and its frozen totals as a file, with progress on long exports.

use crate::say;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use jiff::Timestamp;

use crate::config::Config;
use crate::domain::Closable;
use crate::period::archive::{Format, write_archive};
use crate::period::{close_month, close_span, close_spans_ended_by};

pub(super) async fn close(config: &Config, period: Closable) -> anyhow::Result<ExitCode> {
    let Closable::Month(month) = period else {
        // A quarter or a year: its months' totals are in the ledger already.
        let store = crate::app::open_store(config).await?;
        let result = close_span(
            store.as_ref(),
            &config.calendar()?,
            period,
            Timestamp::now(),
        )
        .await;
        store.close().await;
        say!("{}", result?)?;
        return Ok(ExitCode::SUCCESS);
    };
    let settings = config.openapi()?.ok_or_else(|| {
        anyhow::anyhow!(
            "set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET: closing a month reads the attendance results"
        )
    })?;
    let rules = Arc::new(crate::rules::load_rules_file(&config.rules_path())?);
    let badging = config.badging(&rules)?;
    let store = crate::app::open_store(config).await?;
    let client = crate::app::dingtalk_client(settings, &store)?;
    eprintln!("closing {month}: reading the month's attendance results…");
    let calendar = config.calendar()?;
    let now = Timestamp::now();
    let result = close_month(
        store.as_ref(),
        &client,
        &rules,
        &badging,
        &calendar,
        month,
        now,
    )
    .await;
    let spans = match &result {
        Ok(_) => close_spans_ended_by(store.as_ref(), &calendar, month, now).await,
        Err(_) => Ok(Vec::new()),
    };
    store.close().await;
    say!("{}", result?)?;
    for span in spans? {
        say!("{span}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn export(
    config: &Config,
    month: Closable,
    format: Format,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let extension = match format {
        Format::Csv => "csv",
        Format::Xlsx => "xlsx",
    };
    let path = output.unwrap_or_else(|| PathBuf::from(format!("jifen-{month}.{extension}")));
    let store = crate::app::open_store(config).await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let result = write_archive(
        store.as_ref(),
        &month.to_string(),
        format,
        &path,
        |people| {
            bar.set_message(format!("{people} people read"));
            bar.tick();
        },
    )
    .await;
    bar.finish_and_clear();
    store.close().await;
    let report = result?;
    say!(
        "wrote {} ({} people, {} departments)",
        path.display(),
        report.people,
        report.departments
    )?;
    Ok(ExitCode::SUCCESS)
}
