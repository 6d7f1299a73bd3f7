//! The `jifen` binary as an operator uses it.

use crate::support;

use std::process::{Command, Output};

use support::spawn_server;

fn jifen(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jifen"));
    command
        .args(args)
        .env_remove("JIFEN_CONFIG")
        .env_remove("JIFEN_DATABASE_URL")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run jifen")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn rules_check_prints_what_each_sample_event_posts_and_why() {
    let out = jifen(
        &[
            "rules",
            "check",
            "config/rules.toml",
            "--events",
            "config/examples/events.jsonl",
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("config/rules.toml: 11 rules, no problems"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+8 → zhangwei  [approval.points_request v2]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("奖扣申请「表扬：客户现场问题当晚解决」：+8 积分"),
        "{stdout}"
    );
    assert!(stdout.contains("(already posted: nothing new)"), "{stdout}");
    assert!(
        stdout.contains("week cap of 10 reached, no points this time"),
        "{stdout}"
    );
    assert!(
        stdout.contains("18 events: 15 entries posted, 1 already posted, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_rules_file_with_mistakes_is_refused_with_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    let rules = std::fs::read_to_string("config/rules.toml").unwrap();
    let broken = rules
        .replacen("points = 1\n", "points = 1\npionts = 1\n", 1)
        .replacen("when = 'result == \"late\"", "when = 'reslt == \"late\"", 1);
    std::fs::write(&file, &broken).unwrap();
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let out = jifen(&["rules", "check", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(
        stderr.contains(&format!("line {}: unknown key `pionts`", line_of("pionts"))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "line {}: condition uses unknown variable reslt",
            line_of("reslt")
        )),
        "{stderr}"
    );
}

#[test]
fn events_that_fail_make_the_check_fail() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"type\":\"approval.approved\",\"source_key\":\"k\",\"userid\":\"u\",\"occurred_at\":\"2026-10-01T00:00:00Z\",\
         \"data\":{\"process_code\":\"PROC-JIFEN-POINTS\",\"title\":\"t\",\"form\":{\"对象\":\"a\",\"积分\":\"很多\"}}}\nnot json\n",
    )
    .unwrap();
    let out = jifen(
        &[
            "rules",
            "check",
            "config/rules.toml",
            "--events",
            events.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("form.积分 should hold a whole number of points"),
        "{stdout}"
    );
    assert!(stdout.contains("line 2: not a domain event"), "{stdout}");
    assert!(
        stdout.contains("2 events: 0 entries posted, 0 already posted, 2 failed"),
        "{stdout}"
    );
}

#[test]
fn config_print_default_prints_the_commented_shipped_file() {
    let out = jifen(&["config", "print-default"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string("config/jifen.toml").unwrap()
    );
}

#[test]
fn invalid_config_stops_start_up_naming_the_key() {
    let out = jifen(&["serve"], &[("JIFEN_LISTEN", "localhost")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("server.listen") && stderr.contains("host:port"),
        "{stderr}"
    );
}

#[test]
fn serve_logs_where_it_listens_and_which_database_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let server = spawn_server(&[
        ("JIFEN_DATABASE_URL", &url),
        ("JIFEN_ADMIN_TOKEN", "never-log-me"),
    ]);
    assert!(server.log().contains("database SQLite"), "{}", server.log());
    let response = std::net::TcpStream::connect(&server.addr).and_then(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    });
    assert!(response.unwrap().starts_with("HTTP/1.1 200"));
    let log = server.stop();
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains("never-log-me"),
        "the admin token was logged:\n{log}"
    );
}

#[test]
fn simulate_sends_callbacks_that_serve_stores_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let keys = [
        ("JIFEN_DATABASE_URL", url.as_str()),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", "cli-token"),
        (
            "JIFEN_DINGTALK_AES_KEY",
            "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo",
        ),
        ("JIFEN_DINGTALK_RECEIVE_ID", "ding8a7c6e5d4b3a2f10"),
    ];
    let server = spawn_server(&keys);
    let callback = format!("http://{}/dingtalk/callback", server.addr);
    let out = jifen(
        &[
            "simulate",
            "--url",
            &callback,
            "--repeat",
            "3",
            "approval",
            "--instance",
            "PI-SIM-1",
            "--process-code",
            "PROC-JIFEN-POINTS",
            "--originator",
            "liuyang",
        ],
        &keys,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("3/3: ")
            && text(&out.stdout).contains("acknowledged with encrypted success")
    );
    let out = jifen(
        &[
            "simulate",
            "--url",
            &callback,
            "attendance",
            "--user",
            "zhangwei",
            "--at",
            "2026-10-08T08:52:00+08:00",
        ],
        &keys,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = jifen(
        &[
            "simulate",
            "--url",
            &callback,
            "raw",
            r#"{"EventType":"check_url"}"#,
        ],
        &keys,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A simulator with the wrong token is refused, and says why.
    let mut wrong = keys;
    wrong[1] = ("JIFEN_DINGTALK_CALLBACK_TOKEN", "not-the-token");
    let out = jifen(
        &[
            "simulate",
            "--url",
            &callback,
            "raw",
            r#"{"EventType":"check_url"}"#,
        ],
        &wrong,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("HTTP 401") && text(&out.stderr).contains("signature mismatch"),
        "{}",
        text(&out.stderr)
    );
    server.stop();
    let out = jifen(&["inbox", "list"], &keys);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("bpms_instance:PI-SIM-1:finish:agree") && stdout.contains("attendance:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 events"),
        "the approval sent three times is stored once: {stdout}"
    );
}

#[test]
fn import_post_and_verify_work_end_to_end_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    let out = jifen(&["employees", "import", "config/examples/org.json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 3 departments and 4 employees"));
    let out = jifen(&["ledger", "post", "config/examples/events.jsonl"], &env);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("18 events: 15 entries posted, 1 already posted, 0 failed"));
    // Posting the same file again changes nothing.
    let out = jifen(&["ledger", "post", "config/examples/events.jsonl"], &env);
    assert!(
        text(&out.stdout).contains("18 events: 0 entries posted, 16 already posted, 0 failed"),
        "{}",
        text(&out.stdout)
    );
    let out = jifen(&["ledger", "verify"], &env);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("every account equals the sum of its entries"));
}

#[test]
fn inbox_list_and_retry_show_and_requeue_failed_events() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use jifen::store::{InboxStore, Store};
        let store = jifen::store::SqliteStore::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let row = |key: &str| jifen::store::NewInboxRow {
            dedup_key: key.into(),
            source: "http".into(),
            event_type: "bpms_instance_change".into(),
            payload: "{}".into(),
            ignored: None,
            received_at: jiff::Timestamp::now(),
        };
        store
            .insert_inbox(vec![row("k1"), row("k2")])
            .await
            .unwrap();
        let now = jiff::Timestamp::now();
        for r in store.claim_inbox(now, now, 10, "test").await.unwrap() {
            if r.dedup_key == "k1" {
                store
                    .reschedule_inbox(
                        r.id,
                        "errcode 88: busy",
                        jifen::store::Setback::Failed { retry_at: None },
                    )
                    .await
                    .unwrap();
            }
        }
        store.close().await;
    });
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    let out = jifen(&["inbox", "list", "--failed"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("failed") && stdout.contains("k1") && stdout.contains("errcode 88: busy"),
        "{stdout}"
    );
    assert!(!stdout.contains("k2"), "{stdout}");
    let out = jifen(&["inbox", "list", "--json"], &env);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let out = jifen(&["inbox", "retry", "999"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("#999 is not a failed event"));
    let out = jifen(&["inbox", "retry", "--all-failed"], &env);
    assert!(
        text(&out.stdout).contains("requeued 1 failed event"),
        "{}",
        text(&out.stdout)
    );
    let out = jifen(&["inbox", "list", "--failed"], &env);
    assert!(text(&out.stdout).contains("0 events"));
    let out = jifen(&["inbox", "retry"], &env);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses a retry with neither id nor --all-failed"
    );
}

#[test]
fn migrate_creates_the_schema_on_postgres() {
    if support::skip_postgres() {
        return;
    }
    let name = format!("jifen_cli_test_{}", std::process::id());
    let admin = support::postgres_url();
    let psql = |sql: &str| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        });
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let base = admin.rsplit_once('/').unwrap().0;
    let url = format!("{base}/{name}");
    let first = jifen(&["migrate"], &[("JIFEN_DATABASE_URL", &url)]);
    let second = jifen(&["migrate"], &[("JIFEN_DATABASE_URL", &url)]);
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("database PostgreSQL is up to date"));
    assert!(text(&first.stderr).contains("database migrated"));
    assert!(second.status.success());
    assert!(!text(&second.stderr).contains("database migrated"));
}

#[test]
fn the_demo_plays_a_month_end_to_end_in_under_a_minute_and_leaves_nothing_behind() {
    demo_plays_a_month(&[]);
}

#[test]
fn the_demo_plays_the_same_month_over_stream_mode() {
    let stdout = demo_plays_a_month(&["--stream"]);
    assert!(stdout.contains("(events over Stream: ws://"), "{stdout}");
    assert!(!stdout.contains("callbacks: http"), "{stdout}");
    // October 2026's last whole week, as a card whose buttons were pressed.
    for expected in [
        "the honor board as an interactive card (Stream mode)",
        "光荣榜 · 2026-10-19 – 10-25",
        "presses 我的排名, and sees alone: 榜单当周：第 1 名",
        "press 点赞: the card, updated in place, shows 👍 2",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// Runs the demo of October 2026 with `extra` arguments; its output.
fn demo_plays_a_month(extra: &[&str]) -> String {
    let started = std::time::Instant::now();
    let args: Vec<&str> = ["demo", "--month", "2026-10"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let out = jifen(&args, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    for expected in [
        "Address book read from DingTalk: 50 people in 8 departments",
        "Week to 2026-10-31",
        "准时打卡 ×",
        "奖扣申请「",
        "Work notifications employees received (through the emulator)",
        "Leaderboard, all time:",
        "jifen: 兑换单 #1「咖啡券」：已发放。",
        "jifen: 申诉 #1 成立：已为 李强 退还 3 积分",
        "jifen: 已为 李强 颁发徽章「金牌导师」。",
        "jifen: - 徽章：金牌导师",
        "Every account equals the sum of its entries; 0 events failed to arrive.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // A weekday of October brings each of the 50 people's check-ins.
    assert!(!stdout.contains(" 0 check-ins"), "{stdout}");
    let scratch = std::env::temp_dir().join(format!("jifen-demo-{}", out_pid(&stdout)));
    assert!(!scratch.exists(), "the demo's database is removed");
    let bad = jifen(&["demo", "--month", "October"], &[]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("is not a month like 2026-10"));
    stdout
}

/// The demo prints where its database is; its folder is named after the process.
fn out_pid(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("jifen-demo-").nth(1))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn period_commands_refuse_what_they_cannot_do_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    let export = jifen(&["export", "--period", "2026-10", "--format", "xlsx"], &env);
    assert!(!export.status.success());
    assert!(
        text(&export.stderr)
            .contains("2026-10 is not closed; close it first: jifen period close 2026-10"),
        "{}",
        text(&export.stderr)
    );
    let bad = jifen(&["export", "--period", "2026-13"], &env);
    assert!(
        text(&bad.stderr).contains("is not a month, quarter or year like 2026-10, 2026-Q4 or 2026"),
        "{}",
        text(&bad.stderr)
    );
    let format = jifen(&["export", "--period", "2026-10", "--format", "pdf"], &env);
    assert!(
        text(&format.stderr).contains("csv or xlsx"),
        "{}",
        text(&format.stderr)
    );
    let close = jifen(&["period", "close", "2026-10"], &env);
    assert!(!close.status.success());
    assert!(
        text(&close.stderr).contains("JIFEN_DINGTALK_APP_KEY"),
        "{}",
        text(&close.stderr)
    );
    let quarter = jifen(&["period", "close", "2026-Q3"], &env);
    assert!(!quarter.status.success());
    assert!(
        text(&quarter.stderr)
            .contains("2026-Q3 closes after its months; still open: 2026-07, 2026-08, 2026-09"),
        "{}",
        text(&quarter.stderr)
    );
    let unknown = jifen(&["jobs", "run", "honour"], &env);
    assert!(
        text(&unknown.stderr).contains(
            "the jobs are: reconcile, address_book, month_close, honor_board, review_digest, challenge_board"
        ),
        "{}",
        text(&unknown.stderr)
    );
    let list = jifen(&["jobs", "list"], &env);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        text(&list.stdout).contains("month_close: close the previous month"),
        "{}",
        text(&list.stdout)
    );
}

#[test]
fn debug_logs_hide_the_credentials_in_query_strings() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let server = spawn_server(&[("JIFEN_DATABASE_URL", &url), ("RUST_LOG", "debug")]);
    let response = std::net::TcpStream::connect(&server.addr).and_then(|mut s| {
        use std::io::{Read, Write};
        s.write_all(
            b"GET /export/2026-10.csv?expires=1790000000&signature=c0ffee5ecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    });
    assert!(response.unwrap().starts_with("HTTP/1.1 "));
    let log = server.stop();
    assert!(
        log.contains("signature=***"),
        "the request is logged:\n{log}"
    );
    assert!(
        !log.contains("c0ffee5ecret"),
        "a signature was logged:\n{log}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let migrated = jifen(&["migrate"], &[("JIFEN_DATABASE_URL", &url)]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let commands: &[&[&str]] = &[
        &["config", "print-default"],
        &["config", "check"],
        &["inbox", "list"],
        &["outbox", "list", "--json"],
        &["jobs", "list"],
        &[
            "rules",
            "check",
            "config/rules.toml",
            "--events",
            "config/examples/events.jsonl",
        ],
    ];
    for args in commands {
        // `jifen … | head -0`: the pipe is closed before anything is written.
        let mut child = Command::new(env!("CARGO_BIN_EXE_jifen"))
            .args(*args)
            .env_remove("JIFEN_CONFIG")
            .env_remove("RUST_LOG")
            .env("JIFEN_DATABASE_URL", &url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}

#[test]
fn half_open_connections_are_dropped_and_the_limit_answers_503() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let server = spawn_server(&[
        ("JIFEN_DATABASE_URL", &url),
        ("JIFEN_MAX_CONNECTIONS", "8"),
        ("JIFEN_HEADER_TIMEOUT_SECONDS", "1"),
    ]);
    let health = |addr: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    // Eight clients start a request and never finish it; one more connects and sends nothing.
    let mut stalled: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Past the limit, a new connection is told so at once.
    assert!(
        health(&server.addr).starts_with("HTTP/1.1 503"),
        "over the limit"
    );
    // The header timeout drops the stalled ones; the server answers again.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for s in &mut stalled {
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut rest = Vec::new();
        let closed = match s.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a stalled connection was not closed");
    }
    assert!(
        health(&server.addr).starts_with("HTTP/1.1 200"),
        "healthy again"
    );
    server.stop();
}

#[tokio::test]
async fn api_keys_are_created_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    let out = jifen(
        &[
            "keys",
            "create",
            "mes-line-3",
            "--scope",
            "awards:write",
            "--scope",
            "read",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_string();
    assert!(key.starts_with("jifen_"), "{key}");
    assert!(text(&out.stderr).contains("only time it is shown"));
    for (args, says) in [
        (
            &["keys", "create", "mes-line-3", "--scope", "read"][..],
            "already a key named",
        ),
        (
            &["keys", "create", "lms", "--scope", "write"][..],
            "unknown scope \"write\"",
        ),
        (&["keys", "create", "lms"][..], "at least one --scope"),
        (
            &["keys", "create", "l m s", "--scope", "read"][..],
            "letters, digits",
        ),
        (
            &["keys", "revoke", "nobody"][..],
            "no live key named \"nobody\"",
        ),
    ] {
        let out = jifen(args, &env);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let listed = text(&jifen(&["keys", "list"], &env).stdout);
    assert!(
        listed.contains("mes-line-3") && listed.contains("read awards:write"),
        "{listed}"
    );
    assert!(
        !listed.contains(&key[15..]),
        "no secret in the list: {listed}"
    );

    let server = spawn_server(&env);
    let account = format!("http://{}/api/v1/employees/nobody/account", server.addr);
    let status = async |key: &str| {
        reqwest::Client::new()
            .get(&account)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        status(&key).await,
        404,
        "the key gets through to the handler"
    );
    let out = jifen(&["keys", "revoke", "mes-line-3"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(status(&key).await, 401);
    assert!(text(&jifen(&["keys", "list"], &env).stdout).contains("revoked"));
    server.stop();
}

#[test]
fn a_backtest_of_the_rules_in_force_changes_nothing_and_a_bad_draft_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    assert!(
        jifen(&["employees", "import", "config/examples/org.json"], &env)
            .status
            .success()
    );
    assert!(
        jifen(&["ledger", "post", "config/examples/events.jsonl"], &env)
            .status
            .success()
    );
    let october = ["--from", "2026-10-01", "--to", "2026-10-31"];
    let same = jifen(
        &[&["rules", "backtest", "config/rules.toml"][..], &october].concat(),
        &env,
    );
    assert!(same.status.success(), "{}", text(&same.stderr));
    let report = text(&same.stdout);
    assert!(
        report.contains("events replayed under the draft rules (nothing written)"),
        "{report}"
    );
    assert!(report.contains("0 people would change"), "{report}");
    assert!(report.contains("attendance.ontime"), "{report}");

    let draft = dir.path().join("draft.toml");
    std::fs::write(
        &draft,
        "[[rule]]\nid = \"x\"\nname = \"x\"\nevent = \"attendance.chekced\"\npoints = 1\n",
    )
    .unwrap();
    let draft = draft.display().to_string();
    let bad = jifen(
        &[&["rules", "backtest", draft.as_str()][..], &october].concat(),
        &env,
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("line 4: unknown event type"),
        "{}",
        text(&bad.stderr)
    );
    let backwards = jifen(
        &[
            "rules",
            "backtest",
            "config/rules.toml",
            "--from",
            "2026-10-31",
            "--to",
            "2026-10-01",
        ],
        &env,
    );
    assert!(!backwards.status.success());
    assert!(
        text(&backwards.stderr).contains("is before from"),
        "{}",
        text(&backwards.stderr)
    );
}

#[test]
fn an_xlsx_of_awards_imports_once_and_a_bad_row_is_named_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    let env = [("JIFEN_DATABASE_URL", url.as_str())];
    assert!(
        jifen(&["employees", "import", "config/examples/org.json"], &env)
            .status
            .success()
    );
    let path = dir.path().join("awards.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows: [[&str; 4]; 4] = [
        ["员工", "积分", "事由", "操作人"],
        ["lina", "5", "季度之星", "hr"],
        ["zhangwei", "many", "加班", "hr"],
        ["wangfang", "-2", "迟交周报", "hr"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(n) if r > 0 => sheet.write_number(r as u32, c as u16, n).map(|_| ()),
                _ => sheet.write_string(r as u32, c as u16, *cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    book.save(&path).unwrap();
    let file = path.display().to_string();
    let import = |extra: &[&str]| {
        let args = [&["import", file.as_str(), "--kind", "awards"][..], extra].concat();
        jifen(&args, &env)
    };
    let refused = import(&[]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("line 3, column B (积分): points must be a whole number, found \"many\""),
        "{said}"
    );
    assert!(said.contains("nothing was imported"), "{said}");
    let dry = import(&["--skip-invalid", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("2 rows would be imported, 1 skipped; nothing was written"));
    let done = import(&["--skip-invalid"]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(
        text(&done.stdout).contains("2 rows: 2 imported, 0 imported before, 1 skipped"),
        "{}",
        text(&done.stdout)
    );
    let again = import(&["--skip-invalid"]);
    assert!(
        text(&again.stdout).contains("2 rows: 0 imported, 2 imported before, 1 skipped"),
        "{}",
        text(&again.stdout)
    );
    let verified = jifen(&["ledger", "verify"], &env);
    assert!(text(&verified.stdout).contains("every account equals the sum of its entries"));

    // Events from a CSV, typed by the rules file's [[event_type]].
    let csv = dir.path().join("courses.csv");
    std::fs::write(
        &csv,
        "\u{feff}type,userid,occurred_at,course,hours\nlms.course_completed,lina,2026-11-03 09:30,数据安全基础,2\nlms.course_completed,liuyang,2026-11-03 10:00,数据安全基础,x\n",
    )
    .unwrap();
    let csv = csv.display().to_string();
    let events = jifen(&["import", csv.as_str(), "--kind", "events"], &env);
    assert!(!events.status.success());
    assert!(
        text(&events.stderr)
            .contains("line 3, column E (hours): hours must be a number, found \"x\""),
        "{}",
        text(&events.stderr)
    );
    let events = jifen(
        &["import", csv.as_str(), "--kind", "events", "--skip-invalid"],
        &env,
    );
    assert!(
        text(&events.stdout).contains("1 rows: 1 imported"),
        "{}{}",
        text(&events.stdout),
        text(&events.stderr)
    );
    let other = jifen(&["import", "README.md", "--kind", "events"], &env);
    assert!(text(&other.stderr).contains("neither .csv nor .xlsx"));
}
