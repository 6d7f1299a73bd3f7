//! Starting jifen: config to a migrated store, rules and a listening HTTP server. Tests
//! start it the same way, on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::bot::Bot;
use crate::config::Config;
use crate::dingtalk::openapi::OpenApiClient;
use crate::ingress::InboxWriter;
use crate::ingress::callback::CallbackState;
use crate::ingress::robot::RobotState;
use crate::jobs::Jobs;
use crate::leaderboard::{LeaderboardIndex, keep_current};
use crate::org::sync_directory;
use crate::outbox::deliver::{Deliverer, DeliverySettings};
use crate::processor::{Processor, ProcessorSettings};
use crate::rules::{RuleSet, load_rules_file};
use crate::store::{self, Store, redact_url};
use crate::web::{AppState, router};

/// How often the scheduler looks for due job slots.
const JOB_CHECK: std::time::Duration = std::time::Duration::from_secs(20);

/// How often the leaderboards read new ledger entries.
const LEADERBOARD_CATCH_UP: std::time::Duration = std::time::Duration::from_millis(250);

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub rules: Arc<RuleSet>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// The leaderboards' reader; the processor, the delivery worker and the scheduler when
    /// DingTalk's OpenAPI is configured.
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, finishes requests in flight and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("server task panicked")??;
        // A row being processed is left claimed; its lease runs out and it is taken again.
        for worker in self.workers {
            worker.abort();
            let _ = worker.await;
        }
        self.store.close().await;
        Ok(())
    }
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let settings = config.database();
    let store = store::connect(&settings)
        .await
        .with_context(|| format!("cannot open database {}", redact_url(&settings.url)))?;
    let applied = store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    Ok(store)
}

/// Loads the rules, opens the store and starts serving on the configured address.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let rules_path = config.rules_path();
    let rules = Arc::new(load_rules_file(&rules_path)?);
    tracing::info!(rules = rules.rules.len(), path = %rules_path.display(), "rules loaded");
    let store = open_store(config).await?;
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (server.listen / JIFEN_LISTEN)"))?;
    let addr = listener.local_addr()?;
    let token = config.server.admin_token.clone().map(Arc::new);
    if token.is_none() {
        tracing::warn!(
            "JIFEN_ADMIN_TOKEN is not set: the /api/v1 endpoints will refuse every request"
        );
    }
    let export = config.export_links(addr);
    let bot_settings = config.bot_settings()?;
    let calendar = config.calendar()?;
    let leaderboard = Arc::new(
        LeaderboardIndex::load(
            store.clone(),
            calendar.clone(),
            config.leaderboard_settings(),
            jiff::Timestamp::now(),
        )
        .await
        .context("cannot build the leaderboards from the ledger")?,
    );
    let state = AppState {
        store: store.clone(),
        calendar: calendar.clone(),
        admin_token: token,
        export: export.clone(),
        leaderboard: leaderboard.clone(),
    };
    let keys = config.callback_keys()?;
    if keys.is_none() {
        tracing::warn!(
            "DingTalk callbacks are not configured: POST /dingtalk/callback answers 503"
        );
    }
    // Callbacks and robot messages share one group-commit writer.
    let inbox = InboxWriter::spawn(store.clone());
    let callback = CallbackState {
        keys: keys.map(Arc::new),
        inbox: inbox.clone(),
    };
    // A bot reply wakes the delivery worker, so it goes out at once.
    let wake = Arc::new(Notify::new());
    let openapi = config.openapi()?;
    let bot = openapi.as_ref().map(|_| {
        Arc::new(Bot {
            store: store.clone(),
            rules: rules.clone(),
            calendar: calendar.clone(),
            leaderboard: leaderboard.clone(),
            settings: bot_settings,
            export,
            wake: wake.clone(),
        })
    });
    let robot = RobotState {
        secret: config.dingtalk.app_secret.clone().map(Arc::new),
        inbox,
        robot_code: config.dingtalk.robot_code.clone(),
    };
    let mut workers = match openapi {
        Some(settings) => {
            tracing::info!(api = %settings.api_base, oapi = %settings.oapi_base, "DingTalk OpenAPI client ready");
            let client = Arc::new(OpenApiClient::new(settings)?);
            let processor = Processor {
                store: store.clone(),
                rules: rules.clone(),
                calendar: calendar.clone(),
                source: client.clone(),
                bot,
                settings: ProcessorSettings::default(),
            };
            let deliverer = Deliverer {
                store: store.clone(),
                client: client.clone(),
                calendar,
                settings: DeliverySettings {
                    retry_schedule: config.retry_schedule()?,
                    ..DeliverySettings::default()
                },
                wake,
            };
            let jobs = Jobs::from_config(config, store.clone(), client.clone(), rules.clone())?;
            let store = store.clone();
            let leaderboard = leaderboard.clone();
            // Callbacks are received meanwhile; they wait in the inbox for the address book.
            let processor = tokio::spawn(async move {
                match sync_directory(&client, store.as_ref()).await {
                    Ok(report) => {
                        tracing::info!(
                            departments = report.departments,
                            employees = report.employees,
                            "address book synced from DingTalk"
                        );
                        if let Err(e) = leaderboard.refresh_directory().await {
                            tracing::warn!(error = %e, "leaderboards keep the previous address book");
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "address book not synced; processing with the people already known")
                    }
                }
                processor.run().await;
            });
            vec![
                processor,
                tokio::spawn(deliverer.run()),
                tokio::spawn(jobs.run(JOB_CHECK)),
            ]
        }
        None => {
            tracing::warn!(
                "JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET are not set: callbacks are stored but not turned into points until they are"
            );
            vec![]
        }
    };
    workers.push(tokio::spawn(keep_current(
        leaderboard,
        LEADERBOARD_CATCH_UP,
    )));
    let app = router(state, callback, robot, config.server.max_body_bytes);
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(
        "listening on http://{addr}, database {} ({})",
        store.backend(),
        redact_url(&config.database.url)
    );
    Ok(Running {
        addr,
        store,
        rules,
        shutdown,
        task,
        workers,
    })
}
