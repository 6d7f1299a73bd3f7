//! `jifen demo`: the whole system offline in under a minute. It starts the DingTalk emulator
//! and jifen on a scratch SQLite database, plays a month of the made-up organisation's
//! check-ins and approvals through the real callback endpoint with real crypto (or, with
//! `--stream`, over a Stream connection), and shows what each step did: events, entries
//! with their explanations, notifications, ranking.

use crate::say;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use jiff::civil::{Date, Weekday};
use secrecy::SecretString;

use crate::app;
use crate::config::Config;
use crate::dingtalk::crypto::CallbackCrypto;
use crate::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID, SplitMix};
use crate::emulator::{self, Emulator, EmulatorSettings};
use crate::ledger::Entry;
use crate::rules::RuleSet;
use crate::store::Store;

pub struct DemoOptions {
    /// Any day in the month to play; the previous month when `None`.
    pub month: Option<Date>,
    pub seed: u64,
    /// Leave the server and emulator running afterwards.
    pub keep_running: bool,
    /// Events and robot messages over Stream mode instead of HTTP callbacks.
    pub stream: bool,
}

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = play(&options, &dir, started).await;
    if !options.keep_running {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn play(
    options: &DemoOptions,
    dir: &std::path::Path,
    started: Instant,
) -> anyhow::Result<()> {
    let settings = EmulatorSettings {
        seed: options.seed,
        ..EmulatorSettings::default()
    };
    let listen = if options.keep_running {
        "127.0.0.1:9090"
    } else {
        "127.0.0.1:0"
    };
    let emu = emulator::start(settings, listen.parse()?)
        .await
        .with_context(|| format!("cannot start the DingTalk emulator on {listen}"))?;
    let token = format!("{:032x}", rand::random::<u128>());
    let aes_key =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(rand::random::<[u8; 32]>());
    let database = dir.join("jifen.db");
    let env: Vec<(String, String)> = [
        (
            "JIFEN_DATABASE_URL",
            format!("sqlite:{}", database.display()),
        ),
        (
            "JIFEN_LISTEN",
            if options.keep_running {
                "127.0.0.1:8080"
            } else {
                "127.0.0.1:0"
            }
            .into(),
        ),
        ("JIFEN_LOG", "warn".into()),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY.into()),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET.into()),
        ("JIFEN_DINGTALK_AGENT_ID", AGENT_ID.to_string()),
        ("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY.into()),
        ("JIFEN_DINGTALK_API_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_OAPI_BASE", emu.base_url()),
        ("JIFEN_ROBOT_SESSION_WEBHOOK_ORIGINS", emu.base_url()),
        ("JIFEN_DINGTALK_CORP_ID", CORP_ID.into()),
        // The micro-app loads the emulator's stand-in for DingTalk's JSAPI.
        (
            "JIFEN_APP_JSAPI_URL",
            format!("{}/_emulator/dingtalk.js", emu.base_url()),
        ),
        ("JIFEN_OUTBOX_RETRY_SCHEDULE", "200ms, 1s, 2s".into()),
        // 王芳 runs HR in the made-up company.
        ("JIFEN_HR_ADMINS", "manager4220".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // HTTP callbacks need the callback keys; Stream mode needs none of them.
    let ingress: Vec<(String, String)> = match options.stream {
        // Interactive cards answer their buttons over Stream.
        true => vec![
            ("JIFEN_INGRESS_MODE".into(), "stream".into()),
            (
                "JIFEN_CARDS_HONOR_BOARD_TEMPLATE".into(),
                DEMO_CARD_TEMPLATE.into(),
            ),
            ("JIFEN_HONOR_BOARD_GROUPS".into(), DEMO_GROUP.into()),
        ],
        false => vec![
            ("JIFEN_DINGTALK_CALLBACK_TOKEN".into(), token.clone()),
            ("JIFEN_DINGTALK_AES_KEY".into(), aes_key.clone()),
            ("JIFEN_DINGTALK_RECEIVE_ID".into(), CORP_ID.into()),
        ],
    };
    let env: Vec<(String, String)> = env.into_iter().chain(ingress).collect();
    let config = Config::load(None, &env)?;
    let running = app::start(&config).await?;
    let ingress = if options.stream {
        format!(
            "events over Stream: {}/connect",
            emu.base_url().replacen("http", "ws", 1)
        )
    } else {
        let callback_url = format!("http://{}/dingtalk/callback", running.addr);
        let crypto = CallbackCrypto::new(SecretString::from(token), &aes_key, CORP_ID)?;
        emu.emulator.set_callback(callback_url.clone(), crypto);
        emu.emulator
            .set_robot_url(format!("http://{}/dingtalk/robot", running.addr));
        format!("callbacks: {callback_url}")
    };
    let store = running.store.clone();
    let org = &emu.emulator.org;
    say!(
        "积分 jifen demo: a month of a made-up company, played through DingTalk's wire formats\n"
    )?;
    say!("  DingTalk emulator  {}", emu.base_url())?;
    say!("  jifen server       http://{}  ({ingress})", running.addr)?;
    say!("  database           {}", database.display())?;
    say!(
        "  rules              {} from {}\n",
        running.rules.rules.len(),
        config.rules_path().display()
    )?;

    if options.stream {
        wait_until(Duration::from_secs(30), "a Stream connection", || async {
            Ok(emu.emulator.streams("EVENT", "*"))
        })
        .await?;
    }
    wait_until(Duration::from_secs(30), "the address book sync", || async {
        Ok(store.employee(&org.users[0].userid).await?.is_some())
    })
    .await?;
    say!(
        "Address book read from DingTalk: {} people in {} departments.\n",
        org.users.len(),
        org.departments.len()
    )?;

    let today = jiff::Zoned::now()
        .with_time_zone(org.time_zone.clone())
        .date();
    let month = options
        .month
        .unwrap_or(today.first_of_month() - jiff::Span::new().months(1))
        .first_of_month();
    say!(
        "Playing {}-{:02}: each working day's check-ins and approvals, as DingTalk pushes them.\n",
        month.year(),
        month.month()
    )?;

    let names: BTreeMap<&str, &str> = org
        .users
        .iter()
        .map(|u| (u.userid.as_str(), u.name.as_str()))
        .collect();
    let mut seen: HashSet<i64> = HashSet::new();
    let mut day = month;
    while day.month() == month.month() {
        let week_end =
            day + jiff::Span::new().days(6 - i64::from(day.weekday().to_monday_zero_offset()));
        let (mut check_ins, mut approvals) = (0, 0);
        while day <= week_end && day.month() == month.month() {
            for user in &org.users {
                check_ins += emu.emulator.push_check_ins(&user.userid, day).await;
            }
            approvals += file_approvals(&emu.emulator, day, options.seed).await?;
            day = day.tomorrow()?;
        }
        wait_for_inbox(store.as_ref()).await?;
        let fresh = new_entries(store.as_ref(), &names, &mut seen).await?;
        print_week(
            week_end.min(day.yesterday()?),
            check_ins,
            approvals,
            &fresh,
            &running.rules,
            &names,
        )?;
    }

    wait_until(
        Duration::from_secs(30),
        "notifications to be delivered",
        || async {
            Ok(store
                .outbox(Some("pending"), 500)
                .await?
                .iter()
                .all(|r| r.channel == crate::outbox::DAILY_DIGEST)
                && store.outbox(Some("sending"), 1).await?.is_empty())
        },
    )
    .await?;
    let messages = emu.emulator.messages();
    say!(
        "Work notifications employees received (through the emulator): {}",
        messages.len()
    )?;
    for m in messages.iter().take(3) {
        let who =
            m.to.first()
                .and_then(|u| names.get(u.as_str()))
                .copied()
                .unwrap_or("?");
        let text = m
            .text
            .lines()
            .find(|l| l.starts_with("###"))
            .unwrap_or(&m.text)
            .trim_start_matches("### ");
        say!("  → {who}: {text}")?;
    }
    let digests = store.outbox(Some("pending"), 500).await?.len();
    say!("  and {digests} daily digests (on-time and short-late check-ins) are due at 20:00.\n")?;

    say!("Leaderboard, all time:")?;
    for (i, (account, name)) in store.top_accounts(10).await?.iter().enumerate() {
        // Chinese characters take two columns in a terminal.
        let pad = " ".repeat(8usize.saturating_sub(name.chars().count() * 2));
        say!(
            "  {:>2}. {name}{pad} {:>5} 积分  (balance {})",
            i + 1,
            account.totals.score,
            account.totals.balance
        )?;
    }
    say!("\nIn the group chat with the jifen robot:")?;
    for (from, text, mentions) in [
        (
            "0941516526848432",
            "奖 @李强 5 协助完成客户回访",
            &["281826612426286785"][..],
        ),
        ("281826612426286785", "排行 总 部门", &[][..]),
        ("manager4220", "扣 @李强 2", &["281826612426286785"][..]),
    ] {
        let name = names.get(from).copied().unwrap_or(from);
        say!("  {name}: {text}")?;
        let answer = ask(&emu.emulator, from, text, mentions).await?;
        for line in answer.lines().filter(|l| !l.is_empty()).take(4) {
            say!(
                "    jifen: {}",
                line.trim_start_matches("### ").replace("**", "")
            )?;
        }
    }
    shop_appeal_and_badge(&emu.emulator, &names).await?;
    if options.stream {
        honor_card(&emu.emulator, &config, store.clone(), month, &names).await?;
    }
    let mismatches = store.verify_totals().await?;
    if !mismatches.is_empty() {
        bail!("accounts differ from their entries: {mismatches:?}");
    }
    let failed = store.inbox(Some("failed"), 10).await?;
    say!(
        "\nEvery account equals the sum of its entries; {} events failed to arrive. Done in {:.1} s.",
        failed.len(),
        started.elapsed().as_secs_f64()
    )?;
    if options.keep_running {
        say!("\nStill running (Ctrl-C stops both):")?;
        say!(
            "  the employee page, as 李强 in DingTalk: http://{}/app?dd_user=281826612426286785",
            running.addr
        )?;
        say!("    (any userid of the made-up company works; 王芳 is manager4220)")?;
        say!(
            "  curl -H 'Authorization: Bearer <JIFEN_ADMIN_TOKEN>' http://{}/api/v1/employees/281826612426286785/entries",
            running.addr
        )?;
        say!("  curl {}/_emulator/messages", emu.base_url())?;
        say!("  database: {}", database.display())?;
        tokio::signal::ctrl_c().await?;
    }
    running.stop().await?;
    emu.stop().await;
    Ok(())
}

/// The honor board's card template and the group it goes to, in the made-up company.
const DEMO_CARD_TEMPLATE: &str = "jifen-honor-board.schema";
const DEMO_GROUP: &str = "cidJifenDemoAll==";

/// The honor board of the month's last whole week as an interactive card in the company's group,
/// and its buttons pressed: 我的排名 by the week's leader, 点赞 by two colleagues.
async fn honor_card(
    emu: &Emulator,
    config: &Config,
    store: Arc<dyn Store>,
    month: Date,
    names: &BTreeMap<&str, &str>,
) -> anyhow::Result<()> {
    let calendar = config.calendar()?;
    // The month's last whole week: the one holding its last day but six. The board is of
    // the week before the one its slot falls in.
    let inside = (month.last_of_month() - jiff::Span::new().days(6))
        .at(12, 0, 0, 0)
        .to_zoned(calendar.time_zone().clone())?
        .timestamp();
    let week = calendar.period_containing(crate::domain::calendar::PeriodKind::Week, inside)?;
    let settings = crate::jobs::honor_board::HonorSettings::from_config(config);
    crate::jobs::honor_board::post_honor_board(
        store.as_ref(),
        &calendar,
        &settings,
        week.end,
        jiff::Timestamp::now(),
    )
    .await?;
    let mut card = None;
    wait_until(Duration::from_secs(10), "the honor board card", || {
        card = emu.cards().into_iter().next();
        let done = card.is_some();
        async move { Ok(done) }
    })
    .await?;
    let Some(card) = card else { return Ok(()) };
    say!(
        "\nIn the company group, the honor board as an interactive card (Stream mode):\n  {}",
        card.params.get("title").map_or("", String::as_str)
    )?;
    for line in card
        .params
        .get("board")
        .into_iter()
        .flat_map(|b| b.lines())
        .take(3)
    {
        say!("    {}", line.replace("**", ""))?;
    }
    let leader = names
        .iter()
        .find(|(_, name)| {
            card.params
                .get("leaders")
                .is_some_and(|l| l.contains(**name))
        })
        .map(|(userid, _)| userid.to_string());
    let id = card.out_track_id.clone();
    if let Some(leader) = &leader {
        emu.press_card(&id, leader, crate::honor::MY_PLACE)
            .await
            .map_err(anyhow::Error::msg)?;
        let mut place = None;
        wait_until(
            Duration::from_secs(10),
            "the leader's place on the card",
            || {
                place = emu.card(&id).and_then(|c| {
                    c.private
                        .get(leader)?
                        .get(crate::honor::MY_PLACE_PARAM)
                        .cloned()
                });
                let done = place.is_some();
                async move { Ok(done) }
            },
        )
        .await?;
        say!(
            "  {} presses 我的排名, and sees alone: {}",
            names.get(leader.as_str()).copied().unwrap_or("?"),
            place.unwrap_or_default()
        )?;
    }
    let fans: Vec<&str> = names
        .keys()
        .copied()
        .filter(|u| Some(*u) != leader.as_deref())
        .take(2)
        .collect();
    for fan in &fans {
        emu.press_card(&id, fan, crate::honor::LIKE)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    wait_until(Duration::from_secs(10), "the likes on the card", || {
        let done = emu.card(&id).is_some_and(|c| {
            c.params.get(crate::honor::LIKES_PARAM).map(String::as_str) == Some("2")
        });
        async move { Ok(done) }
    })
    .await?;
    let fan_names: Vec<&str> = fans
        .iter()
        .map(|u| names.get(u).copied().unwrap_or("?"))
        .collect();
    say!(
        "  {} press 点赞: the card, updated in place, shows 👍 2",
        fan_names.join(" and ")
    )?;
    Ok(())
}

/// Says `text` to the robot as `from`, and waits for the answer on the sessionWebhook.
/// 李强 redeems a coffee voucher that HR hands over, appeals a deduction that HR upholds,
/// and is granted a badge: what points come to, in the chat.
async fn shop_appeal_and_badge(emu: &Emulator, names: &BTreeMap<&str, &str>) -> anyhow::Result<()> {
    const HR: &str = "manager4220";
    const MANAGER: &str = "0941516526848432";
    const LI_QIANG: &str = "281826612426286785";
    say!("\nRewards, appeals and badges:")?;
    let mut last = String::new();
    for (from, text, mentions) in [
        (HR, "奖 @李强 30 季度之星".to_string(), &[LI_QIANG][..]),
        (LI_QIANG, "兑换 coffee".to_string(), &[][..]),
        (HR, "发放 {} 券码 8812".to_string(), &[][..]),
        (MANAGER, "扣 @李强 3 周报迟交".to_string(), &[LI_QIANG][..]),
        (
            LI_QIANG,
            "申诉 {} 周报按时提交了，系统没同步".to_string(),
            &[][..],
        ),
        (HR, "申诉成立 {} 核实属实".to_string(), &[][..]),
        (
            HR,
            "颁发 @李强 mentor 带教三位新人".to_string(),
            &[LI_QIANG][..],
        ),
        (LI_QIANG, "积分".to_string(), &[][..]),
    ] {
        // `{}` is the number the answer before gave (a redemption, an entry, an appeal).
        let text = text.replace("{}", &number_in(&last).to_string());
        let name = names.get(from).copied().unwrap_or(from);
        say!("  {name}: {text}")?;
        last = ask(emu, from, &text, mentions).await?;
        for line in last.lines().filter(|l| !l.is_empty()).take(5) {
            say!(
                "    jifen: {}",
                line.trim_start_matches("### ").replace("**", "")
            )?;
        }
    }
    Ok(())
}

/// The first `#123` in an answer, or 0.
fn number_in(answer: &str) -> i64 {
    answer
        .split('#')
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

async fn ask(emu: &Emulator, from: &str, text: &str, mentions: &[&str]) -> anyhow::Result<String> {
    let before = emu.messages().len();
    let send = crate::emulator::robot::RobotSend::in_group(from, text, mentions);
    let delivery = emu
        .send_robot_message(&send)
        .await
        .map_err(anyhow::Error::msg)?;
    if delivery.status != 200 {
        bail!(
            "jifen refused a robot message: HTTP {} {}",
            delivery.status,
            delivery.body
        );
    }
    let mut answer = None;
    wait_until(Duration::from_secs(10), "the robot's answer", || {
        let found = emu.messages()[before..]
            .iter()
            .find(|m| m.channel == "robot_session")
            .map(|m| m.text.clone());
        let done = found.is_some();
        answer = found;
        async move { Ok(done) }
    })
    .await?;
    Ok(answer.unwrap_or_default())
}

/// Files the day's approvals (none at weekends) and pushes their callbacks.
async fn file_approvals(emu: &Arc<Emulator>, day: Date, seed: u64) -> anyhow::Result<usize> {
    if matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
        return Ok(0);
    }
    let org = &emu.org;
    let mut rng = SplitMix(seed ^ (day.day() as u64 * 7919) ^ (day.month() as u64 * 104_729));
    let mut pick = |n: usize| (rng.next_u64() % n as u64) as usize;
    let finish = day
        .at(15, 0, 0, 0)
        .to_zoned(org.time_zone.clone())?
        .timestamp()
        .as_millisecond();
    let count = pick(3);
    for _ in 0..count {
        let someone = &org.users[pick(org.users.len())];
        let (code, form): (&str, Vec<(String, String)>) = match pick(4) {
            0 => {
                let leader = org
                    .users
                    .iter()
                    .find(|u| u.leader && u.dept == someone.dept && u.userid != someone.userid);
                let Some(leader) = leader else { continue };
                let points = [3, 5, 5, 8, 10, -3][pick(6)];
                let reason = [
                    "协助客户回访",
                    "主动加班保障上线",
                    "提出流程改进",
                    "会议迟到",
                ][pick(4)];
                let form = vec![
                    ("对象".into(), someone.userid.clone()),
                    ("积分".into(), points.to_string()),
                    ("事由".into(), reason.into()),
                ];
                let instance = emu
                    .file_approval(
                        "PROC-JIFEN-POINTS",
                        &leader.userid,
                        &as_refs(&form),
                        Some("agree"),
                        finish,
                    )
                    .map_err(anyhow::Error::msg)?;
                emu.push_approval(&instance).await;
                continue;
            }
            1 => (
                "PROC-JIFEN-TRAINING",
                vec![("学时".into(), (1 + pick(6)).to_string())],
            ),
            2 => (
                "PROC-JIFEN-INNOVATION",
                vec![
                    ("采纳等级".into(), ["A", "B", "C"][pick(3)].into()),
                    ("提案内容".into(), "报销流程线上化".into()),
                ],
            ),
            _ => (
                "PROC-JIFEN-SHARING",
                vec![("听众人数".into(), (10 + pick(30)).to_string())],
            ),
        };
        let instance = emu
            .file_approval(
                code,
                &someone.userid,
                &as_refs(&form),
                Some("agree"),
                finish,
            )
            .map_err(anyhow::Error::msg)?;
        emu.push_approval(&instance).await;
    }
    Ok(count)
}

fn as_refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn wait_for_inbox(store: &dyn Store) -> anyhow::Result<()> {
    wait_until(
        Duration::from_secs(60),
        "the processor to catch up",
        || async {
            Ok(store.inbox(Some("pending"), 1).await?.is_empty()
                && store.inbox(Some("processing"), 1).await?.is_empty())
        },
    )
    .await
}

async fn wait_until<F, Fut>(limit: Duration, what: &str, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > limit {
            bail!("gave up waiting for {what} after {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Entries not shown yet, oldest first.
async fn new_entries(
    store: &dyn Store,
    names: &BTreeMap<&str, &str>,
    seen: &mut HashSet<i64>,
) -> anyhow::Result<Vec<Entry>> {
    let mut fresh = Vec::new();
    for userid in names.keys() {
        for entry in store.entries(userid, 500, None).await? {
            if seen.insert(entry.id) {
                fresh.push(entry);
            }
        }
    }
    fresh.sort_by_key(|e| e.id);
    Ok(fresh)
}

fn print_week(
    end: Date,
    check_ins: usize,
    approvals: usize,
    fresh: &[Entry],
    rules: &RuleSet,
    names: &BTreeMap<&str, &str>,
) -> std::io::Result<()> {
    let total: i64 = fresh.iter().map(|e| e.points).sum();
    say!(
        "Week to {end}: {check_ins} check-ins and {approvals} approvals arrived → {} entries, {total:+} 积分",
        fresh.len()
    )?;
    let mut by_rule: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for e in fresh.iter().filter(|e| e.source_key.starts_with("att:")) {
        let slot = by_rule
            .entry(e.rule_id.as_deref().unwrap_or("?"))
            .or_default();
        slot.0 += 1;
        slot.1 += e.points;
    }
    for (rule, (n, points)) in by_rule {
        let name = rules
            .rules
            .iter()
            .find(|r| r.id == rule)
            .map(|r| r.name.as_str())
            .unwrap_or(rule);
        say!("    {name} ×{n}: {points:+}")?;
    }
    for e in fresh.iter().filter(|e| !e.source_key.starts_with("att:")) {
        let who = names
            .get(e.userid.as_str())
            .copied()
            .unwrap_or(e.userid.as_str());
        say!("    {who} {:+}: {}", e.points, e.explanation.zh)?;
    }
    Ok(())
}

/// The demo's scratch folder: the database lives there, and goes with it.
fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("jifen-demo-{}", std::process::id()))
}
