//! `jifen jobs list|run`: the scheduled jobs, what they did, and running one by hand.

use crate::say;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::Timestamp;

use super::JobsCommand;
use crate::config::Config;
use crate::jobs::{Job, Jobs, SlotOutcome};

pub(super) async fn jobs(config: &Config, command: JobsCommand) -> anyhow::Result<ExitCode> {
    let store = crate::app::open_store(config).await?;
    let result = match command {
        JobsCommand::List => list(config, store.as_ref()).await,
        JobsCommand::Run { name, slot } => run(config, store.clone(), &name, slot).await,
    };
    store.close().await;
    result
}

async fn list(config: &Config, store: &dyn crate::store::Store) -> anyhow::Result<ExitCode> {
    let tz = config.calendar()?.time_zone().clone();
    let now = Timestamp::now();
    for spec in crate::jobs::JobSpec::from_config(config)? {
        let state = if spec.enabled { "" } else { " (switched off)" };
        let next = spec
            .schedule
            .next_slot(now, &tz)
            .map_or_else(|| "never".to_string(), |s| s.to_string());
        say!(
            "{}{state}: {}\n  cron \"{}\", next slot {next}",
            spec.job.name(),
            spec.job.describe(),
            spec.schedule.expression()
        )?;
        let runs = store.job_runs(Some(spec.job.name()), 5).await?;
        if runs.is_empty() {
            say!("  no runs yet")?;
        }
        for run in runs {
            say!(
                "  {}  {:<7} {}",
                run.slot,
                run.status,
                run.detail.unwrap_or_default()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(
    config: &Config,
    store: Arc<dyn crate::store::Store>,
    name: &str,
    slot: Option<String>,
) -> anyhow::Result<ExitCode> {
    let Some(job) = Job::parse(name) else {
        bail!("{}", crate::jobs::JobError::Unknown(name.to_string()));
    };
    let settings = config.openapi()?.ok_or_else(|| {
        anyhow::anyhow!(
            "set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET: {name} reads DingTalk's OpenAPI"
        )
    })?;
    let client = Arc::new(crate::app::dingtalk_client(settings, &store)?);
    let rules = Arc::new(crate::rules::load_rules_file(&config.rules_path())?);
    let badges = config.badging(&rules)?;
    let jobs = Jobs::from_config(config, store, client, rules, badges)?;
    let now = Timestamp::now();
    let slot = match slot {
        Some(text) => text.parse().with_context(|| {
            format!("--slot {text:?} is not a local time like 2026-11-23T06:30:00")
        })?,
        None => {
            let spec = jobs
                .specs
                .iter()
                .find(|s| s.job == job)
                .context("the job has no schedule")?;
            spec.schedule
                .last_slot(now, jobs.calendar.time_zone())
                .context("the job's schedule has no slot before now; pass --slot")?
        }
    };
    match jobs.run_slot(job, slot, now).await? {
        SlotOutcome::Done(detail) => {
            say!("{name} {slot}: {detail}")?;
            Ok(ExitCode::SUCCESS)
        }
        SlotOutcome::Failed(error) => {
            eprintln!("error: {name} {slot} failed: {error}");
            Ok(ExitCode::FAILURE)
        }
        SlotOutcome::Taken => {
            eprintln!(
                "{name} {slot} already ran (or is running); `jifen jobs list` shows it. Pass --slot for another."
            );
            Ok(ExitCode::from(2))
        }
    }
}
