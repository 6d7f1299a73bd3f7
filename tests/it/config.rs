//! Configuration: the shipped file is the default, the environment overrides it, mistakes
//! name their key, and secrets never show.

use std::path::Path;

use jifen::config::{Config, DEFAULT_CONFIG};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jifen.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_shipped_config_is_the_default() {
    let shipped = std::fs::read_to_string("config/jifen.toml").unwrap();
    assert_eq!(shipped, DEFAULT_CONFIG);
    let config = Config::load(Some(Path::new("config/jifen.toml")), &[]).unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.database.url, "sqlite:data/jifen.db");
    assert_eq!(config.organisation.time_zone, "Asia/Shanghai");
    assert_eq!(config.rules_path(), Path::new("config/rules.toml"));
    assert!(config.server.admin_token.is_none());
}

#[test]
fn environment_variables_override_the_file() {
    let config = Config::load(
        Some(Path::new("config/jifen.toml")),
        &env(&[
            ("JIFEN_LISTEN", "0.0.0.0:9000"),
            ("JIFEN_DATABASE_URL", "postgres://jifen:pw@db/jifen"),
            ("JIFEN_TIME_ZONE", "America/Bogota"),
            ("JIFEN_ADMIN_TOKEN", "tok-123"),
            ("JIFEN_UNRELATED", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:9000");
    assert_eq!(config.database.url, "postgres://jifen:pw@db/jifen");
    assert_eq!(
        config.calendar().unwrap().time_zone_name(),
        "America/Bogota"
    );
    assert!(config.server.admin_token.is_some());
}

#[test]
fn the_openapi_and_retry_schedule_come_from_the_environment() {
    let config = Config::load(
        None,
        &env(&[
            ("JIFEN_DINGTALK_APP_KEY", "dingapp"),
            ("JIFEN_DINGTALK_APP_SECRET", "s3cret"),
            ("JIFEN_DINGTALK_AGENT_ID", "3052715634"),
            ("JIFEN_DINGTALK_API_BASE", "http://127.0.0.1:9090/"),
            ("JIFEN_OUTBOX_RETRY_SCHEDULE", "50ms, 2s, 1m"),
        ]),
    )
    .unwrap();
    let api = config.openapi().unwrap().unwrap();
    assert_eq!(api.api_base, "http://127.0.0.1:9090");
    assert_eq!(api.oapi_base, "https://oapi.dingtalk.com");
    assert_eq!(api.agent_id, Some(3052715634));
    assert!(!format!("{config:?}").contains("s3cret"));
    let ms = |n| std::time::Duration::from_millis(n);
    assert_eq!(
        config.retry_schedule().unwrap(),
        vec![ms(50), ms(2000), ms(60_000)]
    );
}

#[test]
fn jifen_config_names_the_file() {
    let (_dir, path) = write("[server]\nlisten = \"127.0.0.1:7000\"\n");
    let config = Config::load(None, &env(&[("JIFEN_CONFIG", path.to_str().unwrap())])).unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:7000");
    // Relative paths in the file are taken from its folder.
    assert_eq!(
        config.rules_path(),
        path.parent().unwrap().join("rules.toml")
    );
}

#[test]
fn mistakes_name_the_key_and_the_problem() {
    // (file text, environment, words the error must contain)
    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "[server]\nlisten = \"nowhere\"\n",
            vec![],
            vec!["server.listen", "host:port"],
        ),
        (
            "[server]\nlisten = 8080\n",
            vec![],
            vec!["server.listen", "expected a string"],
        ),
        (
            "[server]\nlistne = \"127.0.0.1:1\"\n",
            vec![],
            vec!["listne"],
        ),
        (
            "[database]\nurl = \"mysql://u:hunter2@h/d\"\n",
            vec![],
            vec!["database.url", "sqlite: or postgres://"],
        ),
        (
            "",
            env(&[("JIFEN_DATABASE_URL", "oracle://x")]),
            vec!["database.url"],
        ),
        (
            "[organisation]\ntime_zone = \"Asia/Shanghia\"\n",
            vec![],
            vec!["organisation.time_zone", "Asia/Shanghia"],
        ),
        (
            "[organisation]\nweek_start = \"funday\"\n",
            vec![],
            vec!["organisation.week_start", "funday"],
        ),
        (
            "[database]\nmax_connections = 0\n",
            vec![],
            vec!["database.max_connections"],
        ),
        ("[teapot]\n", vec![], vec!["teapot"]),
        (
            "",
            env(&[
                ("JIFEN_DINGTALK_CALLBACK_TOKEN", "t"),
                ("JIFEN_DINGTALK_RECEIVE_ID", "ding1"),
            ]),
            vec!["dingtalk.callback_token", "must be set together"],
        ),
        (
            "",
            env(&[
                ("JIFEN_DINGTALK_CALLBACK_TOKEN", "t"),
                ("JIFEN_DINGTALK_AES_KEY", "hunter2-not-43-chars"),
                ("JIFEN_DINGTALK_RECEIVE_ID", "ding1"),
            ]),
            vec!["dingtalk.aes_key", "43 characters"],
        ),
        (
            "",
            env(&[("JIFEN_DINGTALK_APP_KEY", "dingapp")]),
            vec!["dingtalk.app_key", "dingtalk.app_secret", "together"],
        ),
        (
            "[jobs.reconcile]\ncron = \"every morning\"\n",
            vec![],
            vec!["jobs.reconcile.cron", "every morning", "0 30 6 * * *"],
        ),
        (
            "[robot]\nmanager_monthly_budget = -5\n",
            vec![],
            vec!["robot.manager_monthly_budget", "negative"],
        ),
        (
            "[robot]\nexport_link_minutes = 0\n",
            vec![],
            vec!["robot.export_link_minutes"],
        ),
        (
            "",
            env(&[("JIFEN_PUBLIC_URL", "jifen.example.com")]),
            vec!["robot.public_url", "http(s) URL"],
        ),
        (
            "",
            env(&[
                ("JIFEN_DINGTALK_APP_KEY", "dingapp"),
                ("JIFEN_DINGTALK_APP_SECRET", "hunter2"),
                ("JIFEN_DINGTALK_AGENT_ID", "agent-x"),
            ]),
            vec!["dingtalk.agent_id", "number"],
        ),
        (
            "[dingtalk]\napi_base = \"api.dingtalk.com\"\napp_key = \"k\"\napp_secret = \"hunter2\"\n",
            vec![],
            vec!["dingtalk.api_base", "http(s) URL"],
        ),
        (
            "",
            env(&[("JIFEN_OUTBOX_RETRY_SCHEDULE", "10s, soon")]),
            vec!["outbox.retry_schedule", "soon"],
        ),
        (
            "[ingress]\nmode = \"websocket\"\n",
            vec![],
            vec!["ingress.mode", "websocket", "stream"],
        ),
        (
            "",
            env(&[("JIFEN_INGRESS_MODE", "stream")]),
            vec!["ingress.mode", "JIFEN_DINGTALK_APP_KEY"],
        ),
        (
            "[cards]\nhonor_board_template = \"honor.schema\"\n",
            vec![],
            vec!["cards.honor_board_template", "ingress.mode", "markdown"],
        ),
        (
            "[cards]\nleaderboard_template = \"rank.schema\"\n",
            vec![],
            vec!["cards.leaderboard_template", "ingress.mode"],
        ),
        (
            "[cards]\nhonor_board = \"honor.schema\"\n",
            vec![],
            vec!["honor_board", "honor_board_template"],
        ),
    ];
    for (text, env, words) in cases {
        let (_dir, path) = write(text);
        let err = Config::load(Some(&path), &env).expect_err(text).to_string();
        for word in words {
            assert!(
                err.contains(word),
                "{text:?}: {err:?} should mention {word:?}"
            );
        }
        assert!(!err.contains("hunter2"), "a password leaked into {err:?}");
    }
}

#[test]
fn callback_keys_come_from_the_environment_with_an_optional_previous_set() {
    let key = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
    let config = Config::load(
        Some(Path::new("config/jifen.toml")),
        &env(&[
            ("JIFEN_DINGTALK_CALLBACK_TOKEN", "t1"),
            ("JIFEN_DINGTALK_AES_KEY", key),
            ("JIFEN_DINGTALK_RECEIVE_ID", "ding1"),
            ("JIFEN_DINGTALK_PREVIOUS_CALLBACK_TOKEN", "t0"),
            ("JIFEN_DINGTALK_PREVIOUS_AES_KEY", key),
            ("JIFEN_DINGTALK_PREVIOUS_RECEIVE_ID", "ding0"),
        ]),
    )
    .unwrap();
    let keys = config.callback_keys().unwrap().unwrap();
    let ids: Vec<&str> = keys.sets.iter().map(|k| k.receive_id()).collect();
    assert_eq!(ids, ["ding1", "ding0"]);
    assert_eq!(keys.window_ms, 3_600_000);
    let debug = format!("{config:?}");
    assert!(!debug.contains(key) && !debug.contains("\"t1\""), "{debug}");
    let none = Config::load(Some(Path::new("config/jifen.toml")), &[]).unwrap();
    assert!(none.callback_keys().unwrap().is_none());
}

#[test]
fn a_missing_config_file_is_named() {
    let err = Config::load(Some(Path::new("no/such/jifen.toml")), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no/such/jifen.toml"), "{err}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let (_dir, path) = write("[server]\nadmin_token = \"in-file-secret\"\n");
    let config = Config::load(Some(&path), &env(&[("JIFEN_ADMIN_TOKEN", "s3cr3t-token")])).unwrap();
    let debug = format!("{config:?} {config:#?}");
    assert!(
        !debug.contains("s3cr3t-token") && !debug.contains("in-file-secret"),
        "{debug}"
    );
    assert!(debug.contains("REDACTED"));
}

#[test]
fn robot_roles_come_from_the_file_and_the_environment() {
    let (_dir, path) = write(
        "[robot]\nhr_admins = [\"hr1\"]\nreview_threshold = 20\n\n[robot.managers]\nboss = [\"575401962\"]\n",
    );
    let config = Config::load(Some(&path), &[]).unwrap();
    let bot = config.bot_settings().unwrap();
    assert_eq!(bot.roles.hr_admins, ["hr1"]);
    assert_eq!(bot.roles.managers["boss"], ["575401962"]);
    assert_eq!(
        (bot.review_threshold, bot.manager_monthly_budget),
        (20, 100)
    );
    let config = Config::load(
        Some(&path),
        &env(&[
            ("JIFEN_HR_ADMINS", " hr2, hr3 ,"),
            ("JIFEN_AUDITORS", "au1"),
        ]),
    )
    .unwrap();
    let bot = config.bot_settings().unwrap();
    assert_eq!(bot.roles.hr_admins, ["hr2", "hr3"]);
    assert_eq!(bot.roles.auditors, ["au1"]);
}

#[test]
fn the_honor_boards_button_opens_the_employee_page_where_browsers_reach_jifen() {
    let (_dir, path) = write("");
    let none = Config::load(Some(&path), &[]).unwrap();
    assert_eq!(
        jifen::jobs::honor_board::HonorSettings::from_config(&none).page_url,
        None,
        "no public address, no button"
    );
    let env = [(
        "JIFEN_PUBLIC_URL".to_string(),
        "https://jifen.example.com/".to_string(),
    )];
    let public = Config::load(Some(&path), &env).unwrap();
    assert_eq!(
        jifen::jobs::honor_board::HonorSettings::from_config(&public)
            .page_url
            .as_deref(),
        Some("https://jifen.example.com/app")
    );
}

#[test]
fn the_honor_board_goes_to_groups_from_the_environment_as_a_card_when_a_template_is_set() {
    let (_dir, path) = write("");
    let env = env(&[
        ("JIFEN_HONOR_BOARD_GROUPS", "cidSales==, cidAll==,"),
        ("JIFEN_CARDS_HONOR_BOARD_TEMPLATE", "honor.schema"),
        ("JIFEN_INGRESS_MODE", "both"),
        ("JIFEN_DINGTALK_APP_KEY", "k"),
        ("JIFEN_DINGTALK_APP_SECRET", "s"),
    ]);
    let config = Config::load(Some(&path), &env).unwrap();
    let honor = jifen::jobs::honor_board::HonorSettings::from_config(&config);
    assert_eq!(honor.groups, ["cidSales==", "cidAll=="]);
    assert_eq!(honor.card_template.as_deref(), Some("honor.schema"));
    // A blank template is no template: the markdown card, and no need for Stream.
    let blank = Config::load(
        Some(&path),
        &[("JIFEN_CARDS_HONOR_BOARD_TEMPLATE".into(), " ".into())],
    )
    .unwrap();
    assert_eq!(
        jifen::jobs::honor_board::HonorSettings::from_config(&blank).card_template,
        None
    );
}

#[test]
fn the_honor_board_ranks_as_the_leaderboards_do_and_leaves_off_its_own_exclusions() {
    let shipped = std::fs::read_to_string("config/jifen.toml").unwrap();
    let text = shipped
        .replace("tie = \"shared\"", "tie = \"dense\"")
        .replace("exclude_people = []", "exclude_people = [\"hr1\"]")
        .replace("exclude = []", "exclude = [\"ceo\"]");
    let (_dir, path) = write(&text);
    let config = Config::load(Some(&path), &[]).unwrap();
    let honor = jifen::jobs::honor_board::HonorSettings::from_config(&config);
    assert_eq!(honor.tie, jifen::leaderboard::TiePolicy::Dense);
    let mut left_off: Vec<&str> = honor.ranking.people.iter().map(String::as_str).collect();
    left_off.sort();
    assert_eq!(left_off, ["ceo", "hr1"]);
    // The leaderboards themselves still rank the people only the honor board leaves off.
    assert!(
        !config
            .leaderboard_settings()
            .exclusions
            .people
            .contains("ceo")
    );
}

#[test]
fn an_empty_admin_token_or_secret_counts_as_unset() {
    let config = Config::load(
        Some(Path::new("config/jifen.toml")),
        &env(&[
            ("JIFEN_ADMIN_TOKEN", ""),
            ("JIFEN_DINGTALK_APP_KEY", "  "),
            ("JIFEN_DINGTALK_APP_SECRET", ""),
        ]),
    )
    .unwrap();
    assert!(config.server.admin_token.is_none());
    assert!(config.dingtalk.app_key.is_none() && config.dingtalk.app_secret.is_none());
    assert!(
        config.openapi().unwrap().is_none(),
        "no half-configured client"
    );
}
