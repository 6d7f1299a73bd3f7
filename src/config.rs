//! Configuration: `config/jifen.toml` (or `JIFEN_CONFIG`), overridden by `JIFEN_*` variables.
//! Validated once at start-up; an error names the key and what is wrong. Secrets are
//! `SecretString`s, so they cannot reach a log line or a Debug print by accident.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::badges::Badging;
use crate::domain::calendar::parse_weekday;
use crate::domain::schedule::JobSchedule;
use crate::domain::{Calendar, Catalogue};
use crate::rules::{BadgesError, CatalogueError, RuleSet, load_badges_file, load_catalogue_file};

/// The shipped, commented config; `jifen config print-default` prints it.
pub const DEFAULT_CONFIG: &str = include_str!("../config/jifen.toml");
pub const DEFAULT_CONFIG_PATH: &str = "config/jifen.toml";

/// Environment variables and the keys they override.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("JIFEN_LISTEN", "server.listen"),
    ("JIFEN_INSTANCE_ID", "server.instance_id"),
    ("JIFEN_MAX_CONNECTIONS", "server.max_connections"),
    (
        "JIFEN_API_REQUESTS_PER_MINUTE",
        "server.api_requests_per_minute",
    ),
    (
        "JIFEN_HEADER_TIMEOUT_SECONDS",
        "server.header_timeout_seconds",
    ),
    ("JIFEN_ADMIN_TOKEN", "server.admin_token"),
    ("JIFEN_DATABASE_URL", "database.url"),
    ("JIFEN_TIME_ZONE", "organisation.time_zone"),
    ("JIFEN_RULES", "rules.path"),
    ("JIFEN_REWARDS", "rewards.path"),
    ("JIFEN_REWARDS_APPROVAL_FORM", "rewards.approval_form"),
    ("JIFEN_BADGES", "badges.path"),
    ("JIFEN_LOG", "log.level"),
    ("JIFEN_DINGTALK_CALLBACK_TOKEN", "dingtalk.callback_token"),
    ("JIFEN_DINGTALK_AES_KEY", "dingtalk.aes_key"),
    ("JIFEN_DINGTALK_RECEIVE_ID", "dingtalk.receive_id"),
    (
        "JIFEN_DINGTALK_PREVIOUS_CALLBACK_TOKEN",
        "dingtalk.previous_callback_token",
    ),
    (
        "JIFEN_DINGTALK_PREVIOUS_AES_KEY",
        "dingtalk.previous_aes_key",
    ),
    (
        "JIFEN_DINGTALK_PREVIOUS_RECEIVE_ID",
        "dingtalk.previous_receive_id",
    ),
    ("JIFEN_OUTBOX_RETRY_SCHEDULE", "outbox.retry_schedule"),
    ("JIFEN_DINGTALK_APP_KEY", "dingtalk.app_key"),
    ("JIFEN_DINGTALK_APP_SECRET", "dingtalk.app_secret"),
    ("JIFEN_DINGTALK_AGENT_ID", "dingtalk.agent_id"),
    ("JIFEN_DINGTALK_ROBOT_CODE", "dingtalk.robot_code"),
    ("JIFEN_DINGTALK_API_BASE", "dingtalk.api_base"),
    ("JIFEN_DINGTALK_OAPI_BASE", "dingtalk.oapi_base"),
    ("JIFEN_HR_ADMINS", "robot.hr_admins"),
    ("JIFEN_AUDITORS", "robot.auditors"),
    ("JIFEN_PUBLIC_URL", "robot.public_url"),
    ("JIFEN_APPEAL_WINDOW_DAYS", "robot.appeal_window_days"),
    ("JIFEN_RECOGNITION_MONTHLY", "robot.recognition_monthly"),
    (
        "JIFEN_RECOGNITION_PER_COLLEAGUE",
        "robot.recognition_per_colleague",
    ),
    (
        "JIFEN_ROBOT_SESSION_WEBHOOK_ORIGINS",
        "robot.session_webhook_origins",
    ),
    ("JIFEN_DINGTALK_CORP_ID", "dingtalk.corp_id"),
    ("JIFEN_APP_JSAPI_URL", "app.jsapi_url"),
    ("JIFEN_INGRESS_MODE", "ingress.mode"),
    ("JIFEN_HONOR_BOARD_GROUPS", "jobs.honor_board.groups"),
    (
        "JIFEN_CARDS_HONOR_BOARD_TEMPLATE",
        "cards.honor_board_template",
    ),
    (
        "JIFEN_CARDS_LEADERBOARD_TEMPLATE",
        "cards.leaderboard_template",
    ),
];

/// Keys whose environment overrides are numbers, not text.
const NUMERIC_KEYS: &[&str] = &[
    "server.max_connections",
    "server.header_timeout_seconds",
    "server.api_requests_per_minute",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub organisation: OrganisationConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub rewards: RewardsConfig,
    #[serde(default)]
    pub badges: BadgesConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub dingtalk: DingTalkConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub robot: RobotConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub leaderboard: LeaderboardConfig,
    #[serde(default)]
    pub app: AppConfig,
    #[serde(default)]
    pub ingress: IngressConfig,
    #[serde(default)]
    pub cards: CardsConfig,
    /// Folder of the config file, for relative paths in it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub max_body_bytes: usize,
    pub admin_token: Option<SecretString>,
    /// This replica's name, kept across restarts, under which it claims work.
    pub instance_id: Option<String>,
    /// Connections open at once; one more is answered 503.
    pub max_connections: usize,
    /// Seconds a client has to send its request headers (and a kept-alive connection may
    /// idle), and to send its body.
    pub header_timeout_seconds: u64,
    pub body_timeout_seconds: u64,
    /// Requests each API key (and the admin token) may make a minute; more get 429. 0 is
    /// no limit.
    pub api_requests_per_minute: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            admin_token: None,
            instance_id: None,
            max_connections: 1024,
            header_timeout_seconds: 30,
            body_timeout_seconds: 30,
            api_requests_per_minute: 600,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// May hold a password: Debug shows it redacted.
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &crate::store::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite:data/jifen.db".into(),
            max_connections: 8,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrganisationConfig {
    pub time_zone: String,
    pub week_start: String,
}

impl Default for OrganisationConfig {
    fn default() -> Self {
        OrganisationConfig {
            time_zone: "Asia/Shanghai".into(),
            week_start: "monday".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub path: PathBuf,
}

/// `[badges]`: badges and levels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BadgesConfig {
    /// Must exist when set; without it, `badges.toml` beside the config if there is one.
    pub path: Option<PathBuf>,
}

/// `[rewards]`: the catalogue of what balance points buy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardsConfig {
    /// Must exist when set; without it, `rewards.toml` beside the config if there is one.
    pub path: Option<PathBuf>,
    /// Process code of the 积分兑换 approval form; empty when redemptions are not asked
    /// for through DingTalk approvals.
    pub approval_form: String,
}

impl Default for RewardsConfig {
    fn default() -> Self {
        RewardsConfig {
            path: None,
            approval_form: crate::domain::REDEMPTION_FORM.into(),
        }
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            path: "rules.toml".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// The DingTalk app: callback keys from the console's event subscription, and the
/// credentials and addresses of the OpenAPI.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DingTalkConfig {
    pub app_key: Option<String>,
    pub app_secret: Option<SecretString>,
    /// The micro-app's AgentId (a number), for work notifications.
    pub agent_id: Option<String>,
    /// The robot's code, for robot messages; usually the app key.
    pub robot_code: Option<String>,
    /// The organisation's corpId; when set, robot messages for another organisation are
    /// refused.
    pub corp_id: Option<String>,
    pub api_base: String,
    pub oapi_base: String,
    /// Seconds before an OpenAPI request is abandoned (and retried).
    pub request_timeout_seconds: u64,
    pub callback_token: Option<SecretString>,
    pub aes_key: Option<SecretString>,
    /// The corpId, appKey or suiteKey the callback was registered with.
    pub receive_id: Option<String>,
    pub previous_callback_token: Option<SecretString>,
    pub previous_aes_key: Option<SecretString>,
    pub previous_receive_id: Option<String>,
    /// How far a callback's timestamp may be from our clock.
    pub callback_window_seconds: i64,
}

impl Default for DingTalkConfig {
    fn default() -> Self {
        DingTalkConfig {
            app_key: None,
            app_secret: None,
            agent_id: None,
            robot_code: None,
            corp_id: None,
            api_base: "https://api.dingtalk.com".into(),
            oapi_base: "https://oapi.dingtalk.com".into(),
            request_timeout_seconds: 5,
            callback_token: None,
            aes_key: None,
            receive_id: None,
            previous_callback_token: None,
            previous_aes_key: None,
            previous_receive_id: None,
            callback_window_seconds: 3600,
        }
    }
}

/// Scheduled jobs: cron expressions in `organisation.time_zone`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// A slot missed by less than this (e.g. jifen was down) runs once on start.
    pub grace_minutes: u64,
    pub reconcile: JobConfig,
    pub address_book: JobConfig,
    pub month_close: JobConfig,
    pub honor_board: HonorBoardConfig,
    pub review_digest: JobConfig,
    pub challenge_board: JobConfig,
}

/// The weekly honor board: when, where to, and who is never ranked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HonorBoardConfig {
    /// Defaulted field by field, so `JIFEN_HONOR_BOARD_GROUPS` alone is a whole section.
    #[serde(default = "honor_board_cron")]
    pub cron: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Group chats' openConversationIds (a list, or comma-separated from the environment).
    #[serde(default, deserialize_with = "list_or_commas")]
    pub groups: Vec<String>,
    /// The employee page the card's button opens; without it, the card has no button.
    #[serde(default)]
    pub page_url: Option<String>,
    /// People left off this board only; `[leaderboard]`'s exclusions hold here too.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub exclude: Vec<String>,
}

fn honor_board_cron() -> String {
    "0 0 9 * * Mon".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub cron: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

/// Each job's schedule, and whether it is switched on.
#[derive(Debug, Clone)]
pub struct JobSchedules {
    pub reconcile: (JobSchedule, bool),
    pub address_book: (JobSchedule, bool),
    pub month_close: (JobSchedule, bool),
    pub honor_board: (JobSchedule, bool),
    pub review_digest: (JobSchedule, bool),
    pub challenge_board: (JobSchedule, bool),
}

fn enabled_by_default() -> bool {
    true
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            grace_minutes: 120,
            reconcile: JobConfig {
                cron: "0 30 6 * * *".into(),
                enabled: true,
            },
            address_book: JobConfig {
                cron: "0 0 5 * * *".into(),
                enabled: true,
            },
            month_close: JobConfig {
                cron: "0 0 7 1 * *".into(),
                enabled: true,
            },
            honor_board: HonorBoardConfig {
                cron: honor_board_cron(),
                enabled: true,
                groups: Vec::new(),
                page_url: None,
                exclude: Vec::new(),
            },
            review_digest: JobConfig {
                cron: "0 0 9 * * *".into(),
                enabled: true,
            },
            challenge_board: JobConfig {
                cron: "0 0 17 * * Fri".into(),
                enabled: true,
            },
        }
    }
}

/// Leaderboards: how ties are placed and who is never ranked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderboardConfig {
    pub tie: crate::leaderboard::TiePolicy,
    #[serde(deserialize_with = "list_or_commas")]
    pub exclude_people: Vec<String>,
    #[serde(deserialize_with = "list_or_commas")]
    pub exclude_departments: Vec<String>,
    pub whole_period_only: bool,
}

/// How DingTalk's events and robot messages reach jifen.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngressConfig {
    pub mode: IngressMode,
}

/// Interactive cards (互动卡片): the templates built in DingTalk's card platform from
/// manifest/cards.md. Without one, the markdown card of before goes out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardsConfig {
    /// The honor board's template id (e.g. `3d1b6f7a-….schema`).
    pub honor_board_template: Option<String>,
    /// The leaderboard card's: `排行` in a group is answered with it.
    pub leaderboard_template: Option<String>,
}

/// HTTP callbacks (DingTalk posts to jifen), Stream mode (jifen holds a WebSocket to
/// DingTalk), or both while an app switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngressMode {
    #[default]
    Http,
    Stream,
    Both,
}

impl IngressMode {
    pub fn stream(self) -> bool {
        matches!(self, IngressMode::Stream | IngressMode::Both)
    }

    pub fn http(self) -> bool {
        matches!(self, IngressMode::Http | IngressMode::Both)
    }
}

/// The micro-app (H5 微应用) employees open inside DingTalk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    /// DingTalk's JSAPI script, pinned to the version tested.
    pub jsapi_url: String,
    /// How long a sign-in lasts.
    pub session_hours: u64,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            jsapi_url: "https://g.alicdn.com/dingding/dingtalk-jsapi/3.0.27/dingtalk.open.js"
                .into(),
            session_hours: 8,
        }
    }
}

/// Delivery of messages to DingTalk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Waits between attempts, e.g. "10s, 1m, 5m, 30m, 2h"; after the last, a message is
    /// dead-lettered.
    pub retry_schedule: String,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            retry_schedule: "10s, 1m, 5m, 30m, 2h".into(),
        }
    }
}

/// The robot: who may do what, managers' budgets, review and export links.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobotConfig {
    /// HR admins' userids (a list, or a comma-separated string from the environment).
    #[serde(deserialize_with = "list_or_commas")]
    pub hr_admins: Vec<String>,
    #[serde(deserialize_with = "list_or_commas")]
    pub auditors: Vec<String>,
    /// Managers besides DingTalk's department leaders: userid = [department ids].
    pub managers: std::collections::BTreeMap<String, Vec<String>>,
    pub manager_monthly_budget: i64,
    pub review_threshold: i64,
    /// Days after an entry within which its person may appeal it.
    pub appeal_window_days: i64,
    /// Points each person may give colleagues (点赞) a month; 0 turns it off.
    pub recognition_monthly: i64,
    /// Points one person may give one colleague a month.
    pub recognition_per_colleague: i64,
    pub export_link_minutes: u64,
    /// Where people's browsers reach this server; defaults to the listen address.
    pub public_url: Option<String>,
    /// How far a robot message's signed timestamp may be from our clock.
    pub signature_window_seconds: u64,
    /// The origins (`https://host[:port]`) whose sessionWebhooks jifen answers through; any
    /// other webhook is ignored and the answer goes to the sender through the robot API.
    #[serde(deserialize_with = "list_or_commas")]
    pub session_webhook_origins: Vec<String>,
}

impl Default for RobotConfig {
    fn default() -> Self {
        RobotConfig {
            hr_admins: Vec::new(),
            auditors: Vec::new(),
            managers: Default::default(),
            manager_monthly_budget: 100,
            review_threshold: 50,
            appeal_window_days: 30,
            recognition_monthly: 10,
            recognition_per_colleague: 5,
            export_link_minutes: 60,
            public_url: None,
            signature_window_seconds: 300,
            session_webhook_origins: vec!["https://oapi.dingtalk.com".into()],
        }
    }
}

fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Userids {
        List(Vec<String>),
        Text(String),
    }
    let list = match Userids::deserialize(d)? {
        Userids::List(list) => list,
        Userids::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(list
        .into_iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (set JIFEN_CONFIG or pass --config)")]
    Missing(PathBuf),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("invalid config: {key}: {problem}")]
    Key { key: &'static str, problem: String },
}

impl Config {
    /// Loads `path` (or `JIFEN_CONFIG`, or `config/jifen.toml` when present) with
    /// environment overrides from `env`, and validates the result.
    pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let explicit = path.map(Path::to_path_buf).or_else(|| {
            env.iter()
                .find(|(k, _)| k == "JIFEN_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let file = match explicit {
            Some(p) if !p.is_file() => return Err(ConfigError::Missing(p)),
            Some(p) => Some(p),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.is_file()),
        };

        // Defaults come from the structs' serde defaults; the file and environment override them.
        let mut figment = Figment::new();
        if let Some(file) = &file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only the documented names, so a stray JIFEN_FOO never changes behaviour silently.
        let overrides: Vec<(String, String)> = env
            .iter()
            .filter_map(|(name, value)| {
                let key = ENV_OVERRIDES.iter().find(|(n, _)| n == name)?.1;
                Some((key.to_string(), value.clone()))
            })
            .collect();
        for (key, value) in overrides {
            figment = if NUMERIC_KEYS.contains(&key.as_str()) {
                let number: u64 = value.trim().parse().map_err(|_| {
                    ConfigError::Invalid(format!("{key}: must be a whole number, found {value:?}"))
                })?;
                figment.merge(Serialized::default(&key, number))
            } else {
                figment.merge(Serialized::default(&key, value))
            };
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.base_dir = file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("config"));
        config.blank_is_unset();
        config.validate()?;
        Ok(config)
    }

    /// An empty or blank value (e.g. `JIFEN_ADMIN_TOKEN=`) is no value: an empty admin token
    /// would otherwise let `Authorization: Bearer ` in.
    fn blank_is_unset(&mut self) {
        fn secret(value: &mut Option<SecretString>) {
            if value
                .as_ref()
                .is_some_and(|v| v.expose_secret().trim().is_empty())
            {
                *value = None;
            }
        }
        fn text(value: &mut Option<String>) {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        secret(&mut self.server.admin_token);
        let d = &mut self.dingtalk;
        for value in [
            &mut d.app_secret,
            &mut d.callback_token,
            &mut d.aes_key,
            &mut d.previous_callback_token,
            &mut d.previous_aes_key,
        ] {
            secret(value);
        }
        for value in [
            &mut d.app_key,
            &mut d.agent_id,
            &mut d.robot_code,
            &mut d.corp_id,
            &mut d.receive_id,
            &mut d.previous_receive_id,
        ] {
            text(value);
        }
        text(&mut self.cards.honor_board_template);
        text(&mut self.cards.leaderboard_template);
    }

    /// Loads from the real process environment.
    pub fn load_from_env(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("JIFEN_"))
            .collect();
        Config::load(path, &env)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.max_body_bytes == 0 {
            return Err(key("server.max_body_bytes", "must be more than 0"));
        }
        self.server_limits()?;
        let url = self.database.url.trim();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(key(
                "database.url",
                format!(
                    "must start with sqlite: or postgres://, found {:?}",
                    crate::store::redact_url(url)
                ),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(key("database.max_connections", "must be at least 1"));
        }
        self.calendar()?;
        self.callback_keys()?;
        if self.openapi()?.is_none() && self.ingress.mode.stream() {
            return Err(key(
                "ingress.mode",
                "\"stream\" needs the app's credentials to open the connection: set dingtalk.app_key and dingtalk.app_secret (JIFEN_DINGTALK_APP_KEY, JIFEN_DINGTALK_APP_SECRET)",
            ));
        }
        let cards = [
            (
                "cards.honor_board_template",
                &self.cards.honor_board_template,
            ),
            (
                "cards.leaderboard_template",
                &self.cards.leaderboard_template,
            ),
        ];
        if let Some((name, _)) = cards.iter().find(|(_, t)| t.is_some())
            && !self.ingress.mode.stream()
        {
            return Err(key(
                name,
                "an interactive card's buttons answer over Stream: set ingress.mode = \"stream\" or \"both\" (JIFEN_INGRESS_MODE), or leave the template out for the markdown card",
            ));
        }
        self.retry_schedule()?;
        self.bot_settings()?;
        self.job_schedules()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| key("log.level", format!("{e} (found {:?})", self.log.level)))?;
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            key(
                "server.listen",
                format!(
                    "must be host:port like 127.0.0.1:8080, found {:?}",
                    self.server.listen
                ),
            )
        })
    }

    pub fn calendar(&self) -> Result<Calendar, ConfigError> {
        let week_start = parse_weekday(&self.organisation.week_start)
            .map_err(|e| key("organisation.week_start", e.to_string()))?;
        Calendar::new(&self.organisation.time_zone, week_start)
            .map_err(|e| key("organisation.time_zone", e.to_string()))
    }

    /// The rewards catalogue: the configured file, which must be there, or else
    /// `rewards.toml` beside the config, or no rewards at all.
    pub fn catalogue(&self) -> Result<Catalogue, CatalogueError> {
        match &self.rewards.path {
            Some(path) => {
                let path = self.relative(path);
                if !path.exists() {
                    return Err(CatalogueError::Read {
                        path,
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "rewards.path (JIFEN_REWARDS) names a file that is not there",
                        ),
                    });
                }
                load_catalogue_file(&path)
            }
            None => load_catalogue_file(&self.base_dir.join("rewards.toml")),
        }
    }

    /// The 积分兑换 approval form's process code, when redemptions may be asked for by one.
    pub fn redemption_form(&self) -> Option<&str> {
        Some(self.rewards.approval_form.trim()).filter(|code| !code.is_empty())
    }

    /// The badges and levels, checked against `rules`, and the groups big badges are
    /// announced in (the honor board's).
    pub fn badging(&self, rules: &RuleSet) -> Result<Badging, BadgesError> {
        let book = match &self.badges.path {
            Some(path) => {
                let path = self.relative(path);
                if !path.exists() {
                    return Err(BadgesError::Read {
                        path,
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "badges.path (JIFEN_BADGES) names a file that is not there",
                        ),
                    });
                }
                load_badges_file(&path, rules)?
            }
            None => load_badges_file(&self.base_dir.join("badges.toml"), rules)?,
        };
        Ok(Badging {
            book: Arc::new(book),
            groups: self.jobs.honor_board.groups.clone(),
        })
    }

    fn relative(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn rules_path(&self) -> PathBuf {
        self.relative(&self.rules.path)
    }

    /// The callback key sets, current first; `None` when callbacks are not configured.
    pub fn callback_keys(&self) -> Result<Option<crate::ingress::CallbackKeys>, ConfigError> {
        use secrecy::ExposeSecret;
        let d = &self.dingtalk;
        let set = |names: [&'static str; 3],
                   token: &Option<SecretString>,
                   aes: &Option<SecretString>,
                   id: &Option<String>|
         -> Result<Option<crate::dingtalk::crypto::CallbackCrypto>, ConfigError> {
            match (token, aes, id) {
                (None, None, None) => Ok(None),
                (Some(token), Some(aes), Some(id)) => crate::dingtalk::crypto::CallbackCrypto::new(
                    token.clone(),
                    aes.expose_secret(),
                    id,
                )
                .map(Some)
                .map_err(|e| key(names[1], e.to_string())),
                _ => Err(key(
                    names[0],
                    format!(
                        "{}, {} and {} must be set together",
                        names[0], names[1], names[2]
                    ),
                )),
            }
        };
        let current = set(
            [
                "dingtalk.callback_token",
                "dingtalk.aes_key",
                "dingtalk.receive_id",
            ],
            &d.callback_token,
            &d.aes_key,
            &d.receive_id,
        )?;
        let previous = set(
            [
                "dingtalk.previous_callback_token",
                "dingtalk.previous_aes_key",
                "dingtalk.previous_receive_id",
            ],
            &d.previous_callback_token,
            &d.previous_aes_key,
            &d.previous_receive_id,
        )?;
        if d.callback_window_seconds <= 0 {
            return Err(key(
                "dingtalk.callback_window_seconds",
                "must be more than 0",
            ));
        }
        match (current, previous) {
            (None, Some(_)) => Err(key(
                "dingtalk.callback_token",
                "the previous key set needs a current one",
            )),
            (None, None) => Ok(None),
            (Some(current), previous) => Ok(Some(crate::ingress::CallbackKeys {
                sets: std::iter::once(current).chain(previous).collect(),
                window_ms: d.callback_window_seconds * 1000,
            })),
        }
    }

    /// The OpenAPI client's settings; `None` when the app's key and secret are not set.
    pub fn openapi(
        &self,
    ) -> Result<Option<crate::dingtalk::openapi::OpenApiSettings>, ConfigError> {
        let d = &self.dingtalk;
        let (key_, secret) = match (&d.app_key, &d.app_secret) {
            (None, None) => return Ok(None),
            (Some(k), Some(s)) => (k.trim().to_string(), s.clone()),
            _ => {
                return Err(key(
                    "dingtalk.app_key",
                    "dingtalk.app_key and dingtalk.app_secret must be set together",
                ));
            }
        };
        let mut settings = crate::dingtalk::openapi::OpenApiSettings::new(key_, secret);
        for (name, base, value) in [
            ("dingtalk.api_base", &mut settings.api_base, &d.api_base),
            ("dingtalk.oapi_base", &mut settings.oapi_base, &d.oapi_base),
        ] {
            let trimmed = value.trim().trim_end_matches('/');
            if !(trimmed.starts_with("https://") || trimmed.starts_with("http://")) {
                return Err(key(
                    name,
                    format!("must be an http(s) URL, found {value:?}"),
                ));
            }
            *base = trimmed.to_string();
        }
        settings.agent_id = match &d.agent_id {
            None => None,
            Some(id) => Some(id.trim().parse().map_err(|_| {
                key(
                    "dingtalk.agent_id",
                    format!("must be a number, found {id:?}"),
                )
            })?),
        };
        settings.robot_code = d.robot_code.clone();
        if d.request_timeout_seconds == 0 {
            return Err(key(
                "dingtalk.request_timeout_seconds",
                "must be at least 1",
            ));
        }
        settings.timeout = std::time::Duration::from_secs(d.request_timeout_seconds);
        settings.session_webhook_origins = self.session_webhook_origins()?;
        Ok(Some(settings))
    }

    /// `outbox.retry_schedule` as durations.
    pub fn retry_schedule(&self) -> Result<Vec<std::time::Duration>, ConfigError> {
        self.outbox
            .retry_schedule
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<jiff::SignedDuration>()
                    .ok()
                    .and_then(|d| std::time::Duration::try_from(d).ok())
                    .ok_or_else(|| {
                        key(
                            "outbox.retry_schedule",
                            format!("{s:?} is not a duration like 30s, 5m or 250ms"),
                        )
                    })
            })
            .collect()
    }

    /// What one client may hold of the HTTP server.
    pub fn server_limits(&self) -> Result<crate::runtime::Limits, ConfigError> {
        let s = &self.server;
        if s.max_connections == 0 {
            return Err(key("server.max_connections", "must be at least 1"));
        }
        for (name, seconds) in [
            ("server.header_timeout_seconds", s.header_timeout_seconds),
            ("server.body_timeout_seconds", s.body_timeout_seconds),
        ] {
            if seconds == 0 {
                return Err(key(name, "must be at least 1"));
            }
        }
        Ok(crate::runtime::Limits {
            max_connections: s.max_connections,
            header_timeout: std::time::Duration::from_secs(s.header_timeout_seconds),
            body_timeout: std::time::Duration::from_secs(s.body_timeout_seconds),
            ..crate::runtime::Limits::default()
        })
    }

    /// The name this replica claims inbox rows and pushes under: `server.instance_id`, else
    /// the host's name and the port it listens on, which stay the same when it restarts (so
    /// it takes back its own claims at once).
    pub fn instance_id(&self, listening: SocketAddr) -> String {
        if let Some(id) = self.server.instance_id.as_deref().map(str::trim)
            && !id.is_empty()
        {
            return id.to_string();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{host}:{}", listening.port())
    }

    /// Each job's schedule and whether it is switched on, the cron expressions checked.
    pub fn job_schedules(&self) -> Result<JobSchedules, ConfigError> {
        let j = &self.jobs;
        let parse = |name: &'static str, cron: &str, enabled: bool| {
            JobSchedule::parse(cron)
                .map(|schedule| (schedule, enabled))
                .map_err(|e| key(name, e.to_string()))
        };
        Ok(JobSchedules {
            reconcile: parse(
                "jobs.reconcile.cron",
                &j.reconcile.cron,
                j.reconcile.enabled,
            )?,
            address_book: parse(
                "jobs.address_book.cron",
                &j.address_book.cron,
                j.address_book.enabled,
            )?,
            month_close: parse(
                "jobs.month_close.cron",
                &j.month_close.cron,
                j.month_close.enabled,
            )?,
            honor_board: parse(
                "jobs.honor_board.cron",
                &j.honor_board.cron,
                j.honor_board.enabled,
            )?,
            review_digest: parse(
                "jobs.review_digest.cron",
                &j.review_digest.cron,
                j.review_digest.enabled,
            )?,
            challenge_board: parse(
                "jobs.challenge_board.cron",
                &j.challenge_board.cron,
                j.challenge_board.enabled,
            )?,
        })
    }

    pub fn leaderboard_settings(&self) -> crate::leaderboard::LeaderboardSettings {
        let l = &self.leaderboard;
        crate::leaderboard::LeaderboardSettings {
            tie: l.tie,
            exclusions: crate::leaderboard::Exclusions {
                people: l.exclude_people.iter().cloned().collect(),
                departments: l.exclude_departments.iter().cloned().collect(),
                whole_period_only: l.whole_period_only,
            },
            ..Default::default()
        }
    }

    pub fn job_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.jobs.grace_minutes * 60)
    }

    /// Roles, budgets and the review threshold for bot commands.
    pub fn bot_settings(&self) -> Result<crate::bot::BotSettings, ConfigError> {
        let r = &self.robot;
        if r.manager_monthly_budget < 0 {
            return Err(key("robot.manager_monthly_budget", "must not be negative"));
        }
        if r.review_threshold < 0 {
            return Err(key("robot.review_threshold", "must not be negative"));
        }
        if !(1..=366).contains(&r.appeal_window_days) {
            return Err(key(
                "robot.appeal_window_days",
                format!("must be from 1 to 366, found {}", r.appeal_window_days),
            ));
        }
        if !(0..=crate::bot::command::MAX_POINTS).contains(&r.recognition_monthly) {
            return Err(key(
                "robot.recognition_monthly",
                "must be from 0 (off) to 100000",
            ));
        }
        if !(1..=crate::bot::command::MAX_POINTS).contains(&r.recognition_per_colleague) {
            return Err(key(
                "robot.recognition_per_colleague",
                "must be from 1 to 100000",
            ));
        }
        if !(1..=7 * 24 * 60).contains(&r.export_link_minutes) {
            return Err(key(
                "robot.export_link_minutes",
                "must be from 1 to 10080 (a week)",
            ));
        }
        if let Some(url) = &r.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(key(
                "robot.public_url",
                format!("must be an http(s) URL, found {url:?}"),
            ));
        }
        self.robot_window_ms()?;
        self.session_webhook_origins()?;
        Ok(crate::bot::BotSettings {
            roles: crate::bot::roles::RoleConfig {
                hr_admins: r.hr_admins.clone(),
                auditors: r.auditors.clone(),
                managers: r.managers.clone(),
            },
            manager_monthly_budget: r.manager_monthly_budget,
            review_threshold: r.review_threshold,
            appeal_window_days: r.appeal_window_days,
            recognition: crate::ledger::Allowance {
                monthly: r.recognition_monthly,
                per_recipient: r.recognition_per_colleague,
            },
            leaderboard_card: self.cards.leaderboard_template.clone(),
        })
    }

    /// How far a robot message's signed timestamp may be from our clock, in milliseconds.
    pub fn robot_window_ms(&self) -> Result<i64, ConfigError> {
        let seconds = self.robot.signature_window_seconds;
        if !(1..=3600).contains(&seconds) {
            return Err(key(
                "robot.signature_window_seconds",
                "must be from 1 to 3600 (DingTalk allows at most an hour)",
            ));
        }
        Ok(seconds as i64 * 1000)
    }

    /// The origins whose sessionWebhooks are trusted, checked to be `http(s)://host[:port]`.
    pub fn session_webhook_origins(&self) -> Result<Vec<String>, ConfigError> {
        self.robot
            .session_webhook_origins
            .iter()
            .map(|origin| {
                let origin = origin.trim_end_matches('/');
                let host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                match host {
                    Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@']) => {
                        Ok(origin.to_string())
                    }
                    _ => Err(key(
                        "robot.session_webhook_origins",
                        format!("{origin:?} is not an origin like https://oapi.dingtalk.com"),
                    )),
                }
            })
            .collect()
    }

    /// Export links, signed with the app secret; `None` without one. `listening` is the
    /// address the server is bound to, the default base of the links.
    /// Where browsers reach jifen (`robot.public_url`), or the listening address.
    pub fn public_url(&self) -> String {
        self.robot
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn export_links(&self, listening: SocketAddr) -> Option<crate::export::ExportLinks> {
        let secret = self.dingtalk.app_secret.as_ref()?;
        let base = self
            .robot
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listening}"));
        Some(crate::export::ExportLinks::new(
            &base,
            secret,
            std::time::Duration::from_secs(self.robot.export_link_minutes * 60),
        ))
    }

    pub fn database(&self) -> crate::store::DatabaseSettings {
        crate::store::DatabaseSettings {
            url: self.database.url.trim().to_string(),
            max_connections: self.database.max_connections,
        }
    }
}

fn key(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key,
        problem: problem.into(),
    }
}

/// figment's errors name the key and the file; keep those and drop the values.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let what = match &e.kind {
                // The found value may be a secret: name its type only.
                figment::error::Kind::InvalidType(actual, expected) => match actual {
                    figment::error::Actual::Str(_) => {
                        format!("expected {expected}, found a string")
                    }
                    other => format!("expected {expected}, found {other}"),
                },
                other => other.to_string(),
            };
            let mut text = if path.is_empty() {
                what
            } else {
                format!("{path}: {what}")
            };
            if !source.is_empty() {
                text.push_str(&format!(" (from {source})"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}
