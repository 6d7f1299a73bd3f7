//! Starting jifen: config to a migrated store, rules and a listening HTTP server. Tests
//! start it the same way, on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::bot::Bot;
use crate::config::Config;
use crate::dingtalk::openapi::{ApiError, OpenApiClient, OpenApiSettings};
use crate::ingress::InboxWriter;
use crate::ingress::callback::CallbackState;
use crate::ingress::robot::RobotState;
use crate::ingress::stream::{StreamClient, StreamSettings};
use crate::jobs::Jobs;
use crate::leaderboard::{LeaderboardIndex, keep_current};
use crate::org::sync_directory;
use crate::outbox::deliver::{Deliverer, DeliverySettings};
use crate::processor::{Processor, ProcessorSettings, RedemptionForm};
use crate::rules::{RuleSet, load_rules_file};
use crate::runtime::{Server, Supervisor, serve_with};
use crate::store::{self, Backend, Store, StorePace, redact_url};
use crate::web::app::MicroApp;
use crate::web::app::session::SessionKeys;
use crate::web::{AppState, router};

/// How often the scheduler looks for due job slots.
const JOB_CHECK: std::time::Duration = std::time::Duration::from_secs(20);

/// How often the leaderboards read new ledger entries.
const LEADERBOARD_CATCH_UP: std::time::Duration = std::time::Duration::from_millis(250);

/// How long workers get to finish their batch when jifen stops.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// jifen running in the background: its HTTP server and its supervised workers.
pub struct Running {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub rules: Arc<RuleSet>,
    server: Server,
    /// The leaderboards' reader; the processor, the delivery worker and the scheduler when
    /// DingTalk's OpenAPI is configured.
    workers: Supervisor,
}

impl Running {
    /// Stops accepting connections and finishes the requests in flight, then stops the
    /// workers (each finishes its batch) and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await.context("server task failed")?;
        self.workers.stop(STOP_GRACE).await;
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

/// The DingTalk client for a process on `store`. On PostgreSQL, where several replicas may
/// call DingTalk as one app, calls keep to a schedule shared through the database.
pub fn dingtalk_client(
    settings: OpenApiSettings,
    store: &Arc<dyn Store>,
) -> Result<OpenApiClient, ApiError> {
    let client = OpenApiClient::new(settings)?;
    Ok(match store.backend() {
        Backend::Postgres => client.with_shared_pace(Arc::new(StorePace(store.clone()))),
        Backend::Sqlite => client,
    })
}

/// Loads the rules, opens the store and starts serving on the configured address.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (server.listen / JIFEN_LISTEN)"))?;
    start_on(config, listener).await
}

/// Like [`start`], on a listener the caller bound (tests bind port 0).
pub async fn start_on(config: &Config, listener: TcpListener) -> anyhow::Result<Running> {
    let rules_path = config.rules_path();
    let rules = Arc::new(load_rules_file(&rules_path)?);
    tracing::info!(rules = rules.rules.len(), path = %rules_path.display(), "rules loaded");
    let catalogue = Arc::new(config.catalogue()?);
    let badging = config.badging(&rules)?;
    tracing::info!(
        badges = badging.book.badges.len(),
        levels = badging.book.levels.len(),
        "badges loaded"
    );
    tracing::info!(
        rewards = catalogue.rewards.len(),
        "rewards catalogue loaded"
    );
    let store = open_store(config).await?;
    crate::metrics::install();
    let addr = listener.local_addr()?;
    let token = config.server.admin_token.clone().map(Arc::new);
    if token.is_none() {
        tracing::warn!(
            "JIFEN_ADMIN_TOKEN is not set: the /api/v1 endpoints will refuse every request"
        );
    }
    let export = config.export_links(addr);
    let bot_settings = config.bot_settings()?;
    let hr_admins: Arc<[String]> = bot_settings.roles.hr_admins.clone().into();
    let appeal_window_days = bot_settings.appeal_window_days;
    let recognition = bot_settings.recognition;
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
    let mut workers = Supervisor::new();
    let openapi = config.openapi()?;
    let client = openapi
        .map(|settings| {
            tracing::info!(api = %settings.api_base, oapi = %settings.oapi_base, "DingTalk OpenAPI client ready");
            dingtalk_client(settings, &store).map(Arc::new)
        })
        .transpose()?;
    let keys = config.callback_keys()?;
    let mode = config.ingress.mode;
    if keys.is_none() && mode.http() {
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
    // The robot's commands; also the API's awards, which take the same checks.
    let bot = Arc::new(Bot {
        store: store.clone(),
        rules: rules.clone(),
        catalogue: catalogue.clone(),
        badging: badging.clone(),
        calendar: calendar.clone(),
        leaderboard: leaderboard.clone(),
        settings: bot_settings,
        export: export.clone(),
        wake: wake.clone(),
    });
    let micro_app = client
        .as_ref()
        .and_then(|client| micro_app(config, client.clone(), bot.clone(), rules.clone(), addr));
    let state = AppState {
        store: store.clone(),
        calendar: calendar.clone(),
        admin_token: token,
        bot: Some(bot.clone()),
        api_limit: crate::web::auth::ApiLimiter::per_minute(config.server.api_requests_per_minute),
        export: export.clone(),
        leaderboard: leaderboard.clone(),
        health: workers.health(),
        micro_app,
        catalogue: catalogue.clone(),
        hr_admins,
        appeal_window_days,
        badging: badging.clone(),
        recognition,
    };
    let robot = RobotState {
        secret: config.dingtalk.app_secret.clone().map(Arc::new),
        inbox,
        robot_code: config
            .dingtalk
            .robot_code
            .clone()
            .or_else(|| config.dingtalk.app_key.clone()),
        corp_id: config.dingtalk.corp_id.clone(),
        window_ms: config.robot_window_ms()?,
    };
    if config.dingtalk.corp_id.is_none() {
        tracing::warn!(
            "JIFEN_DINGTALK_CORP_ID is not set: robot messages are not checked to be this organisation's"
        );
    }
    match client {
        Some(client) => {
            let processor = Arc::new(Processor {
                store: store.clone(),
                rules: rules.clone(),
                calendar: calendar.clone(),
                source: client.clone(),
                bot: Some(bot.clone()),
                leaderboard: Some(leaderboard.clone()),
                settings: ProcessorSettings {
                    owner: format!("{}/processor", config.instance_id(addr)),
                    badges: badging.clone(),
                    redemption_form: config.redemption_form().map(|code| RedemptionForm {
                        process_code: code.to_string(),
                        catalogue: catalogue.clone(),
                    }),
                    ..ProcessorSettings::default()
                },
            });
            let deliverer = Arc::new(Deliverer {
                store: store.clone(),
                client: client.clone(),
                calendar,
                settings: DeliverySettings {
                    retry_schedule: config.retry_schedule()?,
                    owner: format!("{}/delivery", config.instance_id(addr)),
                    ..DeliverySettings::default()
                },
                wake,
            });
            let jobs = Arc::new(Jobs {
                leaderboard: Some(leaderboard.clone()),
                ..Jobs::from_config(
                    config,
                    store.clone(),
                    client.clone(),
                    rules.clone(),
                    badging.clone(),
                )?
            });
            let stream = mode.stream().then(|| {
                Arc::new(StreamClient {
                    client: client.clone(),
                    inbox: robot.inbox.clone(),
                    settings: StreamSettings {
                        robot_code: robot.robot_code.clone(),
                        corp_id: robot.corp_id.clone(),
                        ..StreamSettings::default()
                    },
                })
            });
            let synced = Arc::new(tokio::sync::OnceCell::new());
            let (store, leaderboard) = (store.clone(), leaderboard.clone());
            workers.spawn("processor", move |cancel| {
                let (processor, synced) = (processor.clone(), synced.clone());
                let (client, store, leaderboard) =
                    (client.clone(), store.clone(), leaderboard.clone());
                async move {
                    // A restarted processor does not read the address book again.
                    synced
                        .get_or_init(|| read_address_book(client, store, leaderboard))
                        .await;
                    processor.run(cancel).await;
                }
            });
            workers.spawn("delivery", move |cancel| {
                let deliverer = deliverer.clone();
                async move { deliverer.run(cancel).await }
            });
            workers.spawn("scheduler", move |cancel| {
                let jobs = jobs.clone();
                async move { jobs.run(JOB_CHECK, cancel).await }
            });
            if let Some(stream) = stream {
                workers.spawn("stream", move |cancel| stream.clone().run(cancel));
            }
        }
        None => {
            tracing::warn!(
                "JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET are not set: callbacks are stored but not turned into points until they are"
            );
        }
    }
    let index = leaderboard.clone();
    workers.spawn("leaderboards", move |cancel| {
        let index = index.clone();
        async move { keep_current(&index, LEADERBOARD_CATCH_UP, cancel).await }
    });
    let app = router(state, callback, robot, config.server.max_body_bytes);
    let server = serve_with(listener, app, config.server_limits()?)?;
    tracing::info!(
        "listening on http://{addr}, database {} ({})",
        store.backend(),
        redact_url(&config.database.url)
    );
    Ok(Running {
        addr,
        store,
        rules,
        server,
        workers,
    })
}

/// The micro-app's settings; `None` without the app secret its sessions are signed with.
fn micro_app(
    config: &Config,
    client: Arc<OpenApiClient>,
    bot: Arc<Bot>,
    rules: Arc<RuleSet>,
    listening: SocketAddr,
) -> Option<Arc<MicroApp>> {
    let secret = config.dingtalk.app_secret.as_ref()?;
    let corp_id = config.dingtalk.corp_id.clone().unwrap_or_else(|| {
        tracing::warn!(
            "JIFEN_DINGTALK_CORP_ID is not set: the micro-app cannot ask DingTalk for a login code"
        );
        String::new()
    });
    let hours = i64::try_from(config.app.session_hours.clamp(1, 24 * 30)).unwrap_or(8);
    let public_url = config
        .robot
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listening}"));
    Some(Arc::new(MicroApp {
        client,
        bot,
        rules,
        sessions: SessionKeys::new(secret, jiff::SignedDuration::from_hours(hours)),
        jsapi_url: config.app.jsapi_url.clone(),
        corp_id,
        client_id: config.dingtalk.app_key.clone().unwrap_or_default(),
        secure_cookie: public_url.starts_with("https://"),
    }))
}

/// Reads DingTalk's address book at start-up. The first time, callbacks wait in the inbox
/// until it is stored; once one is, it is read again beside the processing, since a large
/// one takes minutes (a person per call) and the people known meanwhile are yesterday's.
async fn read_address_book(
    client: Arc<OpenApiClient>,
    store: Arc<dyn Store>,
    leaderboard: Arc<LeaderboardIndex>,
) {
    match store.employees_after("", 1).await {
        Ok(known) if !known.is_empty() => {
            tokio::spawn(
                async move { sync_address_book(&client, store.as_ref(), &leaderboard).await },
            );
        }
        _ => sync_address_book(&client, store.as_ref(), &leaderboard).await,
    }
}

/// Reads DingTalk's address book; without it, processing goes on with the people already
/// known.
async fn sync_address_book(
    client: &OpenApiClient,
    store: &dyn Store,
    leaderboard: &LeaderboardIndex,
) {
    match sync_directory(client, store).await {
        Ok(report) => {
            tracing::info!(%report, "address book synced from DingTalk");
            if let Err(e) = leaderboard.refresh_directory().await {
                tracing::warn!(error = %e, "leaderboards keep the previous address book");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "address book not synced; processing with the people already known")
        }
    }
}
