//! The command line: `demo`, `serve`, `emulator`, `manifest`, `rules check`, `config`, and the
//! operator's tools (people, ledger, inbox, outbox). Output is for people; errors say what to fix.

use crate::{say, say_raw};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use jiff::Timestamp;
use serde::Deserialize;

use crate::config::{Config, DEFAULT_CONFIG, LogFormat};
use crate::domain::{Calendar, Department, DomainEvent, Employee};
use crate::ledger::{self, Entry, EventPosting, Posting, RuleResult};
use crate::rules::{Outcome, RuleSet, RulesError, evaluate, load_rules_file};
use crate::store::{SqliteStore, Store};

#[cfg(feature = "emulator")]
mod emulator;
mod import;
mod jobs;
mod keys;
mod period;
mod queues;

#[derive(Debug, Parser)]
#[command(
    name = "jifen",
    version,
    about = "积分 — DingTalk-native employee points: rules, ledger, leaderboards"
)]
pub struct Cli {
    /// Config file [default: $JIFEN_CONFIG, else config/jifen.toml when present, else built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try jifen offline: a month of a made-up company through a DingTalk emulator
    #[cfg(feature = "emulator")]
    Demo {
        /// The month to play, e.g. 2026-10 [default: last month]
        #[arg(long, value_parser = parse_month)]
        month: Option<jiff::civil::Date>,
        /// Chooses the company's people and their check-ins
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Keep the server (127.0.0.1:8080) and the emulator (127.0.0.1:9090) running after
        #[arg(long)]
        keep_running: bool,
        /// Events and robot messages over Stream mode (a WebSocket jifen opens) instead of
        /// HTTP callbacks
        #[arg(long)]
        stream: bool,
    },
    /// Run the server (HTTP API and health check) on the configured database
    Serve,
    /// What the DingTalk app must be given in the developer console, as a checklist
    Manifest {
        /// The manifest folder [default: manifest/ when present, else the built-in one]
        #[arg(long, default_value = "manifest")]
        dir: PathBuf,
        #[command(subcommand)]
        command: Option<ManifestCommand>,
    },
    /// Apply database migrations and exit
    Migrate,
    /// Import awards or events from a CSV or XLSX file: every bad row is reported with its
    /// line and column, and nothing is written unless all are good
    Import {
        file: PathBuf,
        #[arg(long, value_enum)]
        kind: import::ImportKind,
        /// Check every row and say what would be imported; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Import the good rows and list the bad ones
        #[arg(long)]
        skip_invalid: bool,
    },
    /// API keys for other systems (scoped; shown once, stored hashed)
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check points rules
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Show configuration
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage the people jifen knows
    Employees {
        #[command(subcommand)]
        command: EmployeesCommand,
    },
    /// Post to and check the ledger
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Send a signed, encrypted DingTalk callback to a running jifen, as DingTalk would
    Simulate {
        /// Callback URL [default: http://<server.listen>/dingtalk/callback]
        #[arg(long, global = true)]
        url: Option<String>,
        /// Send the same callback this many times (redeliveries)
        #[arg(long, global = true, default_value_t = 1)]
        repeat: u32,
        #[command(subcommand)]
        what: SimulateCommand,
    },
    /// Run a stand-in for DingTalk (OpenAPI, limits, faults, callbacks) to try jifen offline
    #[cfg(feature = "emulator")]
    Emulator {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: std::net::SocketAddr,
        /// Chooses the made-up organisation's people and check-ins
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Employees in the made-up organisation: 50 to 100000 (above 50, in teams of 40)
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(50..=100_000))]
        people: u32,
        /// Where to push callbacks [default: http://<server.listen>/dingtalk/callback]
        #[arg(long)]
        callback_url: Option<String>,
        /// Where to post robot messages [default: http://<server.listen>/dingtalk/robot]
        #[arg(long)]
        robot_url: Option<String>,
    },
    /// Show and requeue received DingTalk events
    Inbox {
        #[command(subcommand)]
        command: InboxCommand,
    },
    /// Show and requeue messages jifen sends to DingTalk
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Close a month: period rules (全勤), then its totals frozen
    Period {
        #[command(subcommand)]
        command: PeriodCommand,
    },
    /// Write a closed period's frozen totals for spreadsheets
    Export {
        /// The closed month, quarter or year, e.g. 2026-10, 2026-Q4 or 2026
        #[arg(long)]
        period: crate::domain::Closable,
        /// csv (people) or xlsx (people and departments)
        #[arg(long, default_value = "csv")]
        format: crate::period::archive::Format,
        /// Where to write [default: jifen-<period>.<format>]
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Show scheduled jobs and their runs, or run one by hand
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeriodCommand {
    /// Close a month, quarter or year that is over (a quarter or year once its months are);
    /// closing it again changes nothing
    Close {
        /// e.g. 2026-10, 2026-Q4 or 2026
        period: crate::domain::Closable,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Each job: its schedule, next slot and latest runs
    List,
    /// Run a job's slot now (by default its latest); a slot that ran is not run again
    Run {
        /// reconcile
        name: String,
        /// The slot, as a local time like 2026-11-23T06:30:00
        #[arg(long)]
        slot: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// An approval instance that finished, or was withdrawn (bpms_instance_change)
    Approval {
        /// processInstanceId
        #[arg(long)]
        instance: String,
        /// The form's process code, e.g. PROC-JIFEN-POINTS
        #[arg(long)]
        process_code: String,
        /// Who submitted it (userid)
        #[arg(long)]
        originator: String,
        #[arg(long, default_value = "积分申请")]
        title: String,
        /// agree or refuse
        #[arg(long, default_value = "agree")]
        result: String,
        /// Withdrawn (撤销, type terminate) instead of finished: what it awarded is taken back
        #[arg(long, conflicts_with = "result")]
        withdrawn: bool,
    },
    /// A check-in on the time clock (attendance_check_record)
    Attendance {
        #[arg(long)]
        user: String,
        /// When, e.g. 2026-10-08T08:52:00+08:00 [default: now]
        #[arg(long)]
        at: Option<Timestamp>,
    },
    /// Any plaintext message, e.g. '{"EventType":"check_url"}', or @FILE
    Raw { message: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, once
    Create {
        /// What the key is for, e.g. mes-line-3
        name: String,
        /// What it may do: read, events:write, awards:write, admin (repeat for several)
        #[arg(long)]
        scope: Vec<String>,
    },
    /// List the keys (names, prefixes, scopes; never secrets)
    List {
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: requests with it are refused at once
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// List received events, newest first
    List {
        /// Only events that failed their last attempt
        #[arg(long)]
        failed: bool,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Requeue a failed event, or all of them
    Retry {
        /// The event's id (from `inbox list`)
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<i64>,
        #[arg(long)]
        all_failed: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Check the config and the rules against the manifest and say what is missing
    Check,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List pushes, newest first
    List {
        /// Only pushes that failed their last attempt (dead letters)
        #[arg(long)]
        dead: bool,
        /// One JSON object per line, with every attempt
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Requeue a dead push, or all of them
    Retry {
        /// The push's id (from `outbox list`)
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<i64>,
        #[arg(long)]
        all_dead: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file; with --events, show what each event would post and why
    Check {
        /// The rules file, e.g. config/rules.toml
        file: PathBuf,
        /// Domain events as JSON lines, dry-run on a scratch database
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Also show rules that matched the event type but did not apply, and why
        #[arg(long, short)]
        verbose: bool,
    },
    /// Replay a period's events under a draft rules file and show what would change
    /// against what was posted (nothing is written)
    Backtest {
        /// The draft rules file
        draft: PathBuf,
        /// First local day, e.g. 2026-09-01
        #[arg(long)]
        from: jiff::civil::Date,
        /// Last local day, inclusive, e.g. 2026-11-30
        #[arg(long)]
        to: jiff::civil::Date,
        /// The whole report as JSON, every person included
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default config file, every key commented
    PrintDefault,
    /// Validate the config (file plus environment) and print the result, secrets hidden
    Check,
}

#[derive(Debug, Subcommand)]
pub enum EmployeesCommand {
    /// Create or update departments and employees from a JSON file
    /// ({"departments": [...], "employees": [...]})
    Import { file: PathBuf },
    /// Read departments and employees from DingTalk's address book (needs the app key and
    /// secret; `jifen serve` also does this when it starts)
    Sync,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Post domain events (JSON lines) through the rules into the ledger
    Post { file: PathBuf },
    /// Check that every account equals the sum of its entries
    Verify,
}

#[cfg(feature = "emulator")]
fn parse_month(text: &str) -> Result<jiff::civil::Date, String> {
    format!("{text}-01")
        .parse()
        .map_err(|_| format!("{text:?} is not a month like 2026-10"))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.as_deref();
    match cli.command {
        Command::Config {
            command: ConfigCommand::PrintDefault,
        } => {
            say_raw!("{DEFAULT_CONFIG}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let config = Config::load_from_env(config_path)?;
            say!("{config:#?}")?;
            say!(
                "config is valid; rules file: {}",
                config.rules_path().display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "emulator")]
        Command::Demo {
            month,
            seed,
            keep_running,
            stream,
        } => {
            crate::demo::run(crate::demo::DemoOptions {
                month,
                seed,
                keep_running,
                stream,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Manifest { dir, command } => {
            let (app, forms) = crate::manifest::load(&dir)?;
            if command.is_none() {
                say_raw!("{}", crate::manifest::checklist(&app, &forms))?;
                return Ok(ExitCode::SUCCESS);
            }
            let config = Config::load_from_env(config_path)?;
            let rules = load_rules_file(&config.rules_path())?;
            let problems = crate::manifest::check(&app, &forms, &config, &rules);
            if problems.is_empty() {
                say!(
                    "the config and {} rules agree with the manifest",
                    rules.rules.len()
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            for problem in &problems {
                say!("- {problem}")?;
            }
            say!(
                "{} problem{}; see `jifen manifest` for the checklist",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )?;
            Ok(ExitCode::FAILURE)
        }
        Command::Serve => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            // Listened for before the server says it listens, so a SIGTERM right after that
            // line still shuts it down cleanly.
            let shutdown = shutdown_signal()?;
            let running = crate::app::start(&config).await?;
            shutdown.await;
            tracing::info!("shutting down");
            running.stop().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            let store = crate::app::open_store(&config).await?;
            say!("database {} is up to date", store.backend())?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            command:
                RulesCommand::Check {
                    file,
                    events,
                    verbose,
                },
        } => {
            let calendar = Config::load_from_env(config_path)?.calendar()?;
            rules_check(&file, events.as_deref(), &calendar, verbose).await
        }
        Command::Rules {
            command:
                RulesCommand::Backtest {
                    draft,
                    from,
                    to,
                    json,
                },
        } => {
            let config = Config::load_from_env(config_path)?;
            let rules = match load_rules_file(&draft) {
                Ok(rules) => rules,
                Err(e @ RulesError::Invalid { .. }) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(e.into()),
            };
            let store = crate::app::open_store(&config).await?;
            eprintln!("replaying {from} to {to} under {}…", draft.display());
            let result = crate::backtest::backtest(
                store.as_ref(),
                &rules,
                &config.calendar()?,
                (from, to),
                |n| eprintln!("  {n} events replayed"),
            )
            .await;
            store.close().await;
            let report = result?;
            if json {
                say!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                say!("{report}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Employees {
            command: EmployeesCommand::Import { file },
        } => {
            let config = Config::load_from_env(config_path)?;
            let store = crate::app::open_store(&config).await?;
            let result = import_employees(store.as_ref(), &file).await;
            store.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Employees {
            command: EmployeesCommand::Sync,
        } => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            let settings = config.openapi()?.ok_or_else(|| {
                anyhow::anyhow!(
                    "set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET (dingtalk.app_key, dingtalk.app_secret) to read DingTalk's address book"
                )
            })?;
            let store = crate::app::open_store(&config).await?;
            let client = crate::app::dingtalk_client(settings, &store)?;
            let result = crate::org::sync_directory(&client, store.as_ref()).await;
            store.close().await;
            let report = result?;
            say!("synced from DingTalk: {report}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger {
            command: LedgerCommand::Post { file },
        } => {
            let config = Config::load_from_env(config_path)?;
            let rules = load_rules_file(&config.rules_path())?;
            let calendar = config.calendar()?;
            let store = crate::app::open_store(&config).await?;
            let result = post_events(store.as_ref(), &rules, &calendar, &file, false, true).await;
            store.close().await;
            Ok(if result? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Simulate { url, repeat, what } => {
            let config = Config::load_from_env(config_path)?;
            simulate(&config, url, repeat, what).await
        }
        #[cfg(feature = "emulator")]
        Command::Emulator {
            listen,
            seed,
            people,
            callback_url,
            robot_url,
        } => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            let org = (seed, people as usize);
            emulator::run_emulator(&config, listen, org, callback_url, robot_url).await
        }
        Command::Period {
            command: PeriodCommand::Close { period: closing },
        } => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            period::close(&config, closing).await
        }
        Command::Export {
            period: month,
            format,
            output,
        } => {
            let config = Config::load_from_env(config_path)?;
            period::export(&config, month, format, output).await
        }
        Command::Jobs { command } => {
            let config = Config::load_from_env(config_path)?;
            init_logging(&config);
            jobs::jobs(&config, command).await
        }
        Command::Outbox { command } => {
            let config = Config::load_from_env(config_path)?;
            let store = crate::app::open_store(&config).await?;
            let result = queues::outbox(store.as_ref(), command, config.calendar()?).await;
            store.close().await;
            result
        }
        Command::Import {
            file,
            kind,
            dry_run,
            skip_invalid,
        } => {
            let config = Config::load_from_env(config_path)?;
            import::import(&config, &file, kind, dry_run, skip_invalid).await
        }
        Command::Keys { command } => {
            let config = Config::load_from_env(config_path)?;
            let store = crate::app::open_store(&config).await?;
            let result = keys::keys(store.as_ref(), command).await;
            store.close().await;
            result
        }
        Command::Inbox { command } => {
            let config = Config::load_from_env(config_path)?;
            let store = crate::app::open_store(&config).await?;
            let result = queues::inbox(store.as_ref(), command, config.calendar()?).await;
            store.close().await;
            result
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let config = Config::load_from_env(config_path)?;
            let store = crate::app::open_store(&config).await?;
            let mismatches = store.verify_totals().await?;
            store.close().await;
            if mismatches.is_empty() {
                say!("every account equals the sum of its entries")?;
                Ok(ExitCode::SUCCESS)
            } else {
                for m in &mismatches {
                    say!(
                        "{}: stored {:?}, entries sum to {:?}",
                        m.userid,
                        m.stored,
                        m.summed
                    )?;
                }
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// Ctrl-C or SIGTERM; SIGTERM's handler is in place once this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log.level));
    // Colour only for a person at a terminal, not for files and log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Validates `file`; with `events`, dry-runs them through the real ledger on a scratch
/// database (deleted afterwards), so caps, scope and idempotency show exactly as they would
/// in production.
async fn rules_check(
    file: &Path,
    events: Option<&Path>,
    calendar: &Calendar,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let rules = match load_rules_file(file) {
        Ok(rules) => rules,
        Err(e @ RulesError::Invalid { .. }) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    say!(
        "{}: {} rules, no problems",
        file.display(),
        rules.rules.len()
    )?;
    let Some(events) = events else {
        return Ok(ExitCode::SUCCESS);
    };
    say!(
        "dry run of {} in {} (nothing is saved)\n",
        events.display(),
        calendar.time_zone_name()
    )?;
    let scratch = tempfile::tempdir().context("cannot create a scratch folder for the dry run")?;
    let url = format!("sqlite:{}", scratch.path().join("dry-run.db").display());
    let store = SqliteStore::connect(&url, 1).await?;
    store.migrate().await?;
    let ok = post_events(&store, &rules, calendar, events, true, verbose).await;
    store.close().await;
    Ok(if ok? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Posts each event of a JSON-lines file in its own transaction, printing what happened.
/// With `scratch`, people the events mention are created first (for dry runs).
/// Returns whether every line was posted.
async fn post_events(
    store: &dyn Store,
    rules: &RuleSet,
    calendar: &Calendar,
    file: &Path,
    scratch: bool,
    verbose: bool,
) -> anyhow::Result<bool> {
    let reader = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let (mut events, mut failed, mut posted, mut repeated) = (0usize, 0usize, 0usize, 0usize);
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        let number = index + 1;
        if line.trim().is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        events += 1;
        let event: DomainEvent = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(e) => {
                say!("line {number}: not a domain event: {e}\n")?;
                failed += 1;
                continue;
            }
        };
        let when = event
            .occurred_at
            .to_zoned(calendar.time_zone().clone())
            .strftime("%Y-%m-%d %H:%M");
        say!(
            "line {number}: {} · {} · {when} · {}",
            event.kind,
            event.userid,
            event.source_key
        )?;
        let result: anyhow::Result<EventPosting> = async {
            let mut tx = store.begin().await?;
            if scratch {
                create_people_for(tx.as_mut(), rules, calendar, &event).await?;
            }
            let now = Timestamp::now();
            let posting = ledger::post_event(tx.as_mut(), rules, calendar, &event, now).await?;
            crate::outbox::queue_notices(tx.as_mut(), &posting, calendar, now).await?;
            tx.commit().await?;
            Ok(posting)
        }
        .await;
        match result {
            Ok(posting) => {
                let acted = posting
                    .results
                    .iter()
                    .any(|r| !matches!(r, RuleResult::NotApplicable { .. }));
                if posting.results.is_empty() {
                    say!("    no rule matches {}", event.kind)?;
                } else if !acted && !verbose {
                    say!("    no rule applies (-v shows why)")?;
                }
                for r in &posting.results {
                    match r {
                        RuleResult::Posting {
                            posting: Posting::Posted(e),
                            ..
                        } => {
                            posted += 1;
                            print_entry(e, "")?;
                        }
                        RuleResult::Posting {
                            posting: Posting::AlreadyPosted(e),
                            ..
                        } => {
                            repeated += 1;
                            print_entry(e, " (already posted: nothing new)")?;
                        }
                        RuleResult::OutOfScope { rule_id, userid } => {
                            say!("    ·  {rule_id}: {userid} is outside the rule's departments")?
                        }
                        RuleResult::NotApplicable { rule_id, reason } if verbose => {
                            say!("    ·  {rule_id}: {reason}")?
                        }
                        RuleResult::NotApplicable { .. } => {}
                    }
                }
            }
            Err(e) => {
                failed += 1;
                say!("    !  {e:#}")?;
            }
        }
        say!()?;
    }
    say!("{events} events: {posted} entries posted, {repeated} already posted, {failed} failed")?;
    Ok(failed == 0)
}

/// In a dry run nobody is on file yet: create the event's person (in the event's departments)
/// and whoever the rules would award.
async fn create_people_for(
    tx: &mut dyn crate::store::StoreTx,
    rules: &RuleSet,
    calendar: &Calendar,
    event: &DomainEvent,
) -> anyhow::Result<()> {
    for id in &event.departments {
        tx.upsert_department(&Department {
            id: id.clone(),
            name: id.clone(),
            parent_id: None,
        })
        .await?;
    }
    let mut people = vec![(event.userid.clone(), event.departments.clone())];
    for outcome in evaluate(rules, event, calendar) {
        if let Outcome::Fired(award) = outcome
            && award.userid != event.userid
        {
            people.push((award.userid, Vec::new()));
        }
    }
    for (userid, departments) in people {
        if tx.lock_account(&userid).await?.is_none() || !departments.is_empty() {
            tx.upsert_employee(&Employee {
                name: userid.clone(),
                userid,
                departments,
                leads: Vec::new(),
                active: true,
                hired_at: None,
                left_at: None,
            })
            .await?;
        }
    }
    Ok(())
}

fn print_entry(e: &Entry, note: &str) -> std::io::Result<()> {
    let status = if e.is_pending() { " pending" } else { "" };
    say!(
        "    {:+}{status} → {}  [{} v{}]{note}",
        e.points,
        e.userid,
        e.rule_id.as_deref().unwrap_or("manual"),
        e.rule_version.unwrap_or(0)
    )?;
    say!("       {}", e.explanation.zh)?;
    say!("       {}", e.explanation.en)?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Directory {
    #[serde(default)]
    departments: Vec<Department>,
    #[serde(default)]
    employees: Vec<Employee>,
}

async fn import_employees(store: &dyn Store, file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let directory: Directory = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a directory file", file.display()))?;
    let known: std::collections::HashSet<&str> = directory
        .departments
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    for e in &directory.employees {
        if let Some(d) = e.departments.iter().find(|d| !known.contains(d.as_str())) {
            bail!(
                "employee {} is in department {d:?}, which the file does not define",
                e.userid
            );
        }
    }
    let mut tx = store.begin().await?;
    for d in &directory.departments {
        tx.upsert_department(d).await?;
    }
    for e in &directory.employees {
        tx.upsert_employee(e).await?;
    }
    tx.commit().await?;
    say!(
        "imported {} departments and {} employees",
        directory.departments.len(),
        directory.employees.len()
    )?;
    Ok(())
}

async fn simulate(
    config: &Config,
    url: Option<String>,
    repeat: u32,
    what: SimulateCommand,
) -> anyhow::Result<ExitCode> {
    use crate::dingtalk::simulate::{
        approval_message, attendance_message, send_callback, withdrawal_message,
    };
    let keys = config.callback_keys()?.ok_or_else(|| {
        anyhow::anyhow!("set JIFEN_DINGTALK_CALLBACK_TOKEN, JIFEN_DINGTALK_AES_KEY and JIFEN_DINGTALK_RECEIVE_ID to the server's values")
    })?;
    let crypto = &keys.sets[0];
    let url = url.unwrap_or_else(|| format!("http://{}/dingtalk/callback", config.server.listen));
    let corp = crypto.receive_id();
    let message = match what {
        SimulateCommand::Approval {
            instance,
            process_code,
            originator,
            title,
            result,
            withdrawn,
        } => {
            let now = Timestamp::now().as_millisecond();
            if withdrawn {
                withdrawal_message(corp, &instance, &process_code, &originator, &title, now)
            } else {
                approval_message(
                    corp,
                    &instance,
                    &process_code,
                    &originator,
                    &title,
                    &result,
                    now,
                )
            }
        }
        SimulateCommand::Attendance { user, at } => attendance_message(
            corp,
            &user,
            at.unwrap_or_else(Timestamp::now).as_millisecond(),
            &format!("{:032x}", rand::random::<u128>()),
        ),
        SimulateCommand::Raw { message } => match message.strip_prefix('@') {
            Some(path) => {
                std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
            }
            None => message,
        },
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    for n in 1..=repeat {
        send_callback(&client, &url, crypto, &message).await?;
        say!("{n}/{repeat}: {url} acknowledged with encrypted success")?;
    }
    Ok(ExitCode::SUCCESS)
}
