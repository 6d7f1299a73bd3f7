//! Test databases: every store test runs on SQLite (a fresh file) and on PostgreSQL (a fresh
//! schema in the database at JIFEN_TEST_POSTGRES_URL, default the local server). PostgreSQL
//! being unreachable fails the test, unless JIFEN_TEST_SKIP_POSTGRES=1 says to skip it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jifen::domain::{Calendar, Department, DomainEvent, Employee};
use jifen::store::{PgStore, SqliteStore, Store};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn postgres_url() -> String {
    std::env::var("JIFEN_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

pub fn skip_postgres() -> bool {
    std::env::var("JIFEN_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

pub struct TestDb {
    pub store: Arc<dyn Store>,
    kind: Kind,
}

enum Kind {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        schema: String,
    },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
        let store = SqliteStore::connect(&url, 4).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store: Arc::new(store),
            kind: Kind::Sqlite { _dir: dir, url },
        }
    }

    /// `None` only when PostgreSQL is skipped on purpose.
    pub async fn postgres() -> Option<TestDb> {
        if skip_postgres() {
            eprintln!("PostgreSQL skipped (JIFEN_TEST_SKIP_POSTGRES=1)");
            return None;
        }
        let url = postgres_url();
        let schema = format!(
            "jifen_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url}: {e}\n\
                 start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), \
                 point JIFEN_TEST_POSTGRES_URL at one, or set JIFEN_TEST_SKIP_POSTGRES=1 to skip"
            )
        });
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        admin.close().await.ok();
        let options = PgConnectOptions::from_str(&url)
            .expect("postgres url")
            .options([("search_path", schema.as_str())]);
        let store = PgStore::connect_with(options, 8)
            .await
            .expect("open PostgreSQL");
        store.migrate().await.expect("migrate PostgreSQL");
        Some(TestDb {
            store: Arc::new(store),
            kind: Kind::Postgres { schema },
        })
    }

    /// Runs SQL outside the store, as an operator with a database shell would.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.kind {
            Kind::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                let r = sqlx::query(sql).execute(&mut c).await?;
                Ok(r.rows_affected())
            }
            Kind::Postgres { schema } => {
                let options = PgConnectOptions::from_str(&postgres_url())?
                    .options([("search_path", schema.as_str())]);
                let mut c = PgConnection::connect_with(&options).await?;
                let r = sqlx::query(sql).execute(&mut c).await?;
                Ok(r.rows_affected())
            }
        }
    }

    /// Closes the store and drops the PostgreSQL schema (a failed test leaves it for a look).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Kind::Postgres { schema } = &self.kind
            && let Ok(mut admin) = PgConnection::connect(&postgres_url()).await
        {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await;
        }
    }
}

/// A whole PostgreSQL database of its own, for a `jifen serve` process (which takes a URL,
/// not a schema).
pub struct FreshPgDatabase {
    pub url: String,
    name: String,
}

impl FreshPgDatabase {
    pub async fn create(prefix: &str) -> FreshPgDatabase {
        // Unique per test, also when several run in one process.
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        admin_sql(&format!("CREATE DATABASE {name}")).await;
        let admin = postgres_url();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        FreshPgDatabase { url, name }
    }

    pub async fn drop(self) {
        admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

async fn admin_sql(sql: &str) {
    let mut c = PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(sql).execute(&mut c).await.unwrap();
}

/// Generates, for each named `async fn(database_url: &str, backend: &str)`, a test on a SQLite
/// file and one on a PostgreSQL database of its own: for tests of a `jifen serve` process,
/// which takes a URL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite_serve {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
                    super::$name(&url, "sqlite").await;
                }
            )*
        }
        mod postgres_serve {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::skip_postgres() {
                        return;
                    }
                    let db = $crate::support::FreshPgDatabase::create("jifen_serve").await;
                    super::$name(&db.url, "postgres").await;
                    db.drop().await;
                }
            )*
        }
    };
}

/// Generates one test per backend for each named `async fn(&TestDb)`:
/// `sqlite::name` and `postgres::name`, so the test output says which backends ran.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

pub fn shanghai() -> Calendar {
    Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap()
}

/// The leaderboards over `store` as of `now`, in Shanghai.
pub async fn leaderboards(
    store: &Arc<dyn Store>,
    settings: jifen::leaderboard::LeaderboardSettings,
    now: jiff::Timestamp,
) -> Arc<jifen::leaderboard::LeaderboardIndex> {
    Arc::new(
        jifen::leaderboard::LeaderboardIndex::load(store.clone(), shanghai(), settings, now)
            .await
            .unwrap(),
    )
}

/// A manual entry by `actor` for `userid`, occurring at `at`; returns its id.
pub async fn manual(
    store: &dyn Store,
    actor: &str,
    userid: &str,
    points: i64,
    review: bool,
    at: &str,
) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let at: jiff::Timestamp = at.parse().unwrap();
    let post = jifen::ledger::ManualPost {
        actor: actor.into(),
        userid: userid.into(),
        points,
        reason: "测试".into(),
        category: "manual".into(),
        source_key: format!("test:{userid}:{points}:{at}"),
        review,
        occurred_at: at,
    };
    let posting = jifen::ledger::post_manual(tx.as_mut(), &post, at)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    posting.entry().id
}

/// A small organisation: company 1 with R&D (rd, and its team rd-web) and sales.
pub async fn seed_org(store: &dyn Store) {
    let mut tx = store.begin().await.unwrap();
    for (id, name, parent) in [
        ("1", "示例科技", None),
        ("rd", "研发部", Some("1")),
        ("rd-web", "前端组", Some("rd")),
        ("sales", "销售部", Some("1")),
    ] {
        tx.upsert_department(&Department {
            id: id.into(),
            name: name.into(),
            parent_id: parent.map(Into::into),
        })
        .await
        .unwrap();
    }
    for (userid, name, dept) in [
        ("zhangwei", "张伟", "rd"),
        ("wangfang", "王芳", "rd-web"),
        ("lina", "李娜", "sales"),
        ("liuyang", "刘洋", "sales"),
        ("hr", "人事", "1"),
    ] {
        tx.upsert_employee(&Employee {
            userid: userid.into(),
            name: name.into(),
            departments: vec![dept.into()],
            // 张伟 leads 研发部 (and so 前端组 under it).
            leads: if userid == "zhangwei" {
                vec![dept.into()]
            } else {
                vec![]
            },
            active: true,
            hired_at: None,
            left_at: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// A `jifen serve` child process, its address, and its log. The log is read all the time,
/// so a chatty server never blocks on a full pipe.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
    log: Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// A test that fails midway must not leave its server running (and the test run waiting).
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `jifen serve` on a free port with `env`, and waits for it to listen.
pub fn spawn_server(env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jifen"));
    command
        .arg("serve")
        .env_remove("JIFEN_CONFIG")
        .env_remove("RUST_LOG")
        .env("JIFEN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn,jifen=info");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn({
        let log = log.clone();
        move || {
            for line in lines.map_while(Result::ok) {
                // Logged before the address is handed over, so a test sees the line it waited for.
                {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = addr_tx.send(rest.split(',').next().unwrap_or_default().to_string());
                }
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "no listening line (or the server exited) in:\n{}",
                log.lock().unwrap()
            )
        });
    Server {
        child,
        addr,
        log,
        reader: Some(reader),
    }
}

impl Server {
    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then the whole log; asserts a clean exit.
    pub fn stop(mut self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log();
        assert!(status.success(), "{log}");
        log
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// An on-duty check-in of `userid` at `at`, classified `result` (on_time, late, early…).
pub fn checked(userid: &str, source: &str, at: &str, result: &str) -> DomainEvent {
    DomainEvent {
        kind: "attendance.checked".into(),
        source_key: source.into(),
        userid: userid.into(),
        occurred_at: at.parse().unwrap(),
        departments: vec![],
        data: serde_json::json!({ "result": result, "check_type": "OnDuty", "minutes_late": 0 })
            .as_object()
            .cloned()
            .unwrap(),
    }
}

/// The OpenAPI client's settings for the emulator at `emu`, as the app would have them.
pub fn emulator_openapi(
    emu: &jifen::emulator::RunningEmulator,
) -> jifen::dingtalk::openapi::OpenApiSettings {
    use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET};
    let mut settings = jifen::dingtalk::openapi::OpenApiSettings::new(
        APP_KEY.into(),
        secrecy::SecretString::from(APP_SECRET),
    );
    settings.api_base = emu.base_url();
    settings.oapi_base = emu.base_url();
    settings.robot_code = Some(APP_KEY.into());
    settings.agent_id = Some(AGENT_ID);
    settings
}

/// The de-duplication keys of every inbox row in the database at `database_url`.
pub async fn inbox_keys(database_url: &str) -> Vec<String> {
    let store = jifen::store::connect(&jifen::store::DatabaseSettings {
        url: database_url.into(),
        max_connections: 2,
    })
    .await
    .unwrap();
    let rows = store.inbox(None, 1_000_000).await.unwrap();
    store.close().await;
    rows.into_iter().map(|r| r.dedup_key).collect()
}
