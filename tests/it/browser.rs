//! The employee page in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), against a `jifen serve` process and the DingTalk emulator, whose made-up
//! company jifen reads as it would DingTalk's and whose stand-in for the JSAPI plays
//! DingTalk's client. At a phone's viewport and a desktop's; the screenshots are kept in
//! target/screenshots/. Needs Debian's `chromium` and `chromium-driver` (.ci/run installs
//! them).

use crate::micro_app::start_emulator;
use crate::support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use jifen::emulator::RunningEmulator;
use jifen::emulator::org::{APP_KEY, APP_SECRET, CORP_ID};
use jifen::store::{DatabaseSettings, Store};
use jiff::Timestamp;
use serde_json::{Value, json};
use support::{Server, checked, manual, shanghai};

/// The emulator's company: 李强 sells, 张伟 leads sales, 王芳 is the HR admin.
const LI_QIANG: &str = "281826612426286785";
const ZHANG_WEI: &str = "0941516526848432";
const WANG_FANG: &str = "manager4220";
const ADMIN_TOKEN: &str = "browser-admin";

/// `jifen serve` on `database_url` with the emulator for DingTalk, once it has read the
/// address book; and a store on the same database, to put entries in the ledger.
async fn serve(database_url: &str, emu: &RunningEmulator) -> (Server, Arc<dyn Store>) {
    let base = emu.base_url();
    let jsapi = format!("{base}/_emulator/dingtalk.js");
    let server = support::spawn_server(&[
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_ADMIN_TOKEN", ADMIN_TOKEN),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
        ("JIFEN_DINGTALK_CORP_ID", CORP_ID),
        ("JIFEN_DINGTALK_API_BASE", &base),
        ("JIFEN_DINGTALK_OAPI_BASE", &base),
        ("JIFEN_APP_JSAPI_URL", &jsapi),
        ("JIFEN_HR_ADMINS", WANG_FANG),
    ]);
    let account = format!("http://{}/api/v1/employees/{LI_QIANG}/account", server.addr);
    let started = Instant::now();
    loop {
        let response = reqwest::Client::new()
            .get(&account)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jifen never read the address book:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = jifen::store::connect(&DatabaseSettings {
        url: database_url.into(),
        max_connections: 2,
    })
    .await
    .unwrap();
    (server, store)
}

on_both_databases!(
    signing_in_from_dingtalk_shows_the_ledgers_numbers_on_phone_and_desktop,
    an_hr_approval_in_the_review_queue_moves_the_employees_score,
);

/// A chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({e}): install Debian's chromium, chromium-driver and \
                 fonts-noto-cjk (apt-get install chromium chromium-driver fonts-noto-cjk), as \
                 .ci/run does"
            )
        });
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A headless Chromium session of `width`×`height` CSS pixels.
async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}"), "--lang=zh-CN"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// `fetch(path)` from the page, as its own script would: the HTTP status and the body.
async fn fetch_from_page(client: &Client, method: &str, path: &str, body: Value) -> (u16, String) {
    let script = r#"
        const [method, path, body, done] = arguments;
        const init = { method, credentials: "same-origin" };
        if (method === "POST") {
            init.headers = { "Content-Type": "application/json" };
            init.body = JSON.stringify(body);
        }
        fetch(path, init)
            .then(r => r.text().then(text => done([r.status, text])))
            .catch(e => done([0, String(e)]));
    "#;
    let answer = client
        .execute_async(script, vec![json!(method), json!(path), body])
        .await
        .unwrap();
    (
        answer[0].as_u64().unwrap_or(0) as u16,
        answer[1].as_str().unwrap_or_default().to_string(),
    )
}

/// Waits for the element `css` and returns its text.
async fn text_of(client: &Client, css: &str) -> String {
    let element = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element.text().await.unwrap()
}

/// This month, as the history form writes it.
fn month() -> String {
    jifen::domain::Month::of(shanghai().local_date(Timestamp::now())).to_string()
}

/// Where the screenshots are kept.
fn screenshots() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(name), png).unwrap();
}

async fn signing_in_from_dingtalk_shows_the_ledgers_numbers_on_phone_and_desktop(
    database_url: &str,
    backend: &str,
) {
    let emu = start_emulator().await;
    let (server, store) = serve(database_url, &emu).await;
    let base = format!("http://{}", server.addr);
    let now = Timestamp::now().to_string();
    manual(store.as_ref(), WANG_FANG, LI_QIANG, 12, false, &now).await;
    manual(store.as_ref(), WANG_FANG, LI_QIANG, 30, false, &now).await;
    manual(store.as_ref(), ZHANG_WEI, LI_QIANG, 25, true, &now).await;
    manual(store.as_ref(), WANG_FANG, ZHANG_WEI, 30, false, &now).await;
    let rules = jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap();
    let on_time = checked(LI_QIANG, "att:liqiang:browser:OnDuty", &now, "on_time");
    let mut tx = store.begin().await.unwrap();
    jifen::ledger::post_event(tx.as_mut(), &rules, &shanghai(), &on_time, Timestamp::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let driver = chromedriver();
    for (viewport, width, height) in [("phone", 375, 812), ("desktop", 1280, 800)] {
        let totals = store.account(LI_QIANG).await.unwrap().unwrap().totals;
        let client = browser(&driver, width, height).await;
        // Inside DingTalk the page gets a login code from the client; here, the stand-in.
        client
            .goto(&format!("{base}/app?dd_user={LI_QIANG}"))
            .await
            .unwrap();
        assert_eq!(
            text_of(&client, "#score").await,
            totals.score.to_string(),
            "{viewport}"
        );
        assert_eq!(
            text_of(&client, "#balance").await,
            totals.balance.to_string()
        );
        assert_eq!(
            text_of(&client, "#pending").await,
            totals.pending.to_string()
        );
        let latest = text_of(&client, "#latest").await;
        assert!(latest.contains("手动奖励：+12 积分"), "{latest}");
        screenshot(&client, &format!("home-{viewport}-{backend}.png")).await;
        // An employee opens neither the HR console nor someone else's history.
        for path in [
            "/app/review".to_string(),
            "/app/analytics".to_string(),
            format!("/app/history?userid={ZHANG_WEI}"),
        ] {
            let (status, html) = fetch_from_page(&client, "GET", &path, Value::Null).await;
            assert_eq!(status, 403, "{path}: {html}");
            assert!(
                !html.contains("张伟") && !html.contains("<svg"),
                "{path}: {html}"
            );
        }
        // The history, filtered to one category through the form.
        client
            .find(Locator::Css("nav a[href='/app/history']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let all = text_of(&client, "#entries").await;
        assert!(
            all.contains("手动奖励") && all.contains("准时打卡"),
            "{all}"
        );
        let category = client
            .find(Locator::Css("select[name=category]"))
            .await
            .unwrap();
        category.select_by_value("attendance").await.unwrap();
        client
            .find(Locator::Css("#filter button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_url(
                &format!("{base}/app/history?month={}&category=attendance", month())
                    .parse()
                    .unwrap(),
            )
            .await
            .unwrap();
        let filtered = text_of(&client, "#entries").await;
        assert!(
            filtered.contains("准时打卡") && !filtered.contains("手动奖励"),
            "{filtered}"
        );
        screenshot(&client, &format!("history-{viewport}-{backend}.png")).await;
        // The rewards page: on the phone, a coffee voucher is redeemed with its button.
        client
            .find(Locator::Css("nav a[href='/app/rewards']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let offers = text_of(&client, "#offers").await;
        assert!(offers.contains("咖啡券"), "{offers}");
        if viewport == "phone" {
            client
                .find(Locator::Css("#reward-coffee button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let outcome = text_of(&client, "#outcome").await;
            assert!(outcome.contains("已兑换 #"), "{outcome}");
        }
        let balance = store
            .account(LI_QIANG)
            .await
            .unwrap()
            .unwrap()
            .totals
            .balance;
        let spent = if viewport == "phone" { 30 } else { 0 };
        assert_eq!(balance, totals.balance - spent, "{viewport}");
        assert_eq!(text_of(&client, "#balance").await, balance.to_string());
        screenshot(&client, &format!("rewards-{viewport}-{backend}.png")).await;
        // A login code is good once: the second use is refused and signs no one in.
        let codes = format!(
            "{}/_emulator/login-codes?userid={ZHANG_WEI}",
            emu.base_url()
        );
        let code: Value = reqwest::get(&codes).await.unwrap().json().await.unwrap();
        client.delete_all_cookies().await.unwrap();
        let login = json!({ "code": code["code"] });
        let (first, _) = fetch_from_page(&client, "POST", "/app/login", login.clone()).await;
        assert_eq!(first, 200);
        client.delete_all_cookies().await.unwrap();
        let (again, body) = fetch_from_page(&client, "POST", "/app/login", login).await;
        assert!((400..500).contains(&again), "{again}: {body}");
        // Outside DingTalk, the page says where to open it, not nothing.
        client.delete_all_cookies().await.unwrap();
        client.goto(&format!("{base}/app?lang=zh")).await.unwrap();
        let started = Instant::now();
        loop {
            let message = text_of(&client, "#message").await;
            if message.contains("请在钉钉中打开") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{message}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.close().await.unwrap();
    }
    store.close().await;
    server.stop();
    emu.stop().await;
}

async fn an_hr_approval_in_the_review_queue_moves_the_employees_score(
    database_url: &str,
    backend: &str,
) {
    let emu = start_emulator().await;
    let (server, store) = serve(database_url, &emu).await;
    let base = format!("http://{}", server.addr);
    let now = Timestamp::now().to_string();
    let held = manual(store.as_ref(), ZHANG_WEI, LI_QIANG, 40, true, &now).await;
    let driver = chromedriver();
    let client = browser(&driver, 375, 812).await;
    // 李强 sees the points pending, and no console.
    client
        .goto(&format!("{base}/app?dd_user={LI_QIANG}"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#pending").await, "40");
    assert_eq!(text_of(&client, "#score").await, "0");
    client.goto(&format!("{base}/app/review")).await.unwrap();
    let refused = text_of(&client, "#message").await;
    assert!(refused.contains("只有人事管理员可以审核"), "{refused}");
    // HR approves from the queue.
    client.delete_all_cookies().await.unwrap();
    client
        .goto(&format!("{base}/app/review?dd_user={WANG_FANG}"))
        .await
        .unwrap();
    let queue = text_of(&client, &format!("#pending-{held}")).await;
    assert!(queue.contains("李强"), "{queue}");
    screenshot(&client, &format!("review-phone-{backend}.png")).await;
    client
        .find(Locator::Css(&format!(
            "#pending-{held} button[value=approve]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let outcome = text_of(&client, "#outcome").await;
    assert!(!outcome.is_empty());
    let totals = store.account(LI_QIANG).await.unwrap().unwrap().totals;
    assert_eq!((totals.score, totals.pending), (40, 0), "{outcome}");
    // HR's analytics, at a desktop's width, once the boards have the approval.
    client.set_window_size(1280, 800).await.unwrap();
    let started = Instant::now();
    loop {
        client.goto(&format!("{base}/app/analytics")).await.unwrap();
        let bands = text_of(&client, "#bands").await;
        if bands.contains("20–49\n1") || bands.contains("20–49 1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{bands}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for chart in ["#bands svg", "#departments svg", "#trend svg", "#rules svg"] {
        assert!(client.find(Locator::Css(chart)).await.is_ok(), "{chart}");
    }
    let departments = text_of(&client, "#departments").await;
    assert!(departments.contains("华东销售部"), "{departments}");
    screenshot(&client, &format!("analytics-desktop-{backend}.png")).await;
    let trend = client.find(Locator::Css("#trend")).await.unwrap();
    let png = trend.screenshot().await.unwrap();
    std::fs::write(
        screenshots().join(format!("trend-desktop-{backend}.png")),
        png,
    )
    .unwrap();
    // And 李强's page says so.
    client.delete_all_cookies().await.unwrap();
    client
        .goto(&format!("{base}/app?dd_user={LI_QIANG}"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#score").await, "40");
    client.close().await.unwrap();
    store.close().await;
    server.stop();
    emu.stop().await;
}
