//! The employee page in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), against jifen's server and the DingTalk emulator, whose stand-in for the
//! JSAPI plays DingTalk's client. At a phone's viewport and a desktop's; the screenshots are
//! kept in target/screenshots/. Needs Debian's `chromium` and `chromium-driver` (.ci/run
//! installs them).

use crate::micro_app::{serve_with_jsapi, start_emulator};
use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use jiff::Timestamp;
use serde_json::json;
use support::{TestDb, checked, manual, shanghai};

on_both_backends!(
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

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

async fn signing_in_from_dingtalk_shows_the_ledgers_numbers_on_phone_and_desktop(db: &TestDb) {
    let emu = start_emulator().await;
    let jsapi = format!("{}/_emulator/dingtalk.js", emu.base_url());
    let base = serve_with_jsapi(db, &emu, &jsapi).await;
    let now = Timestamp::now().to_string();
    manual(db.store.as_ref(), "hr", "zhangwei", 12, false, &now).await;
    manual(db.store.as_ref(), "hr", "zhangwei", 5, true, &now).await;
    let rules = jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap();
    let on_time = checked("zhangwei", "att:zhangwei:browser:OnDuty", &now, "on_time");
    let mut tx = db.store.begin().await.unwrap();
    jifen::ledger::post_event(tx.as_mut(), &rules, &shanghai(), &on_time, Timestamp::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let totals = db.store.account("zhangwei").await.unwrap().unwrap().totals;
    let backend = db.store.backend();
    let driver = chromedriver();
    for (viewport, width, height) in [("phone", 375, 812), ("desktop", 1280, 800)] {
        let client = browser(&driver, width, height).await;
        // Inside DingTalk the page gets a login code from the client; here, the stand-in.
        client
            .goto(&format!("{base}/app?dd_user=zhangwei"))
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
        // Outside DingTalk (no `dd`), the page says where to open it, not nothing.
        client.delete_all_cookies().await.unwrap();
        client.goto(&format!("{base}/app?lang=zh")).await.unwrap();
        let started = Instant::now();
        loop {
            let message = text_of(&client, "#message").await;
            if message.contains("请在钉钉中打开") || message.contains("钉钉登录失败") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{message}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.close().await.unwrap();
    }
    emu.stop().await;
}

async fn an_hr_approval_in_the_review_queue_moves_the_employees_score(db: &TestDb) {
    let emu = start_emulator().await;
    let jsapi = format!("{}/_emulator/dingtalk.js", emu.base_url());
    let base = serve_with_jsapi(db, &emu, &jsapi).await;
    let now = Timestamp::now().to_string();
    let held = manual(db.store.as_ref(), "zhangwei", "lina", 40, true, &now).await;
    let driver = chromedriver();
    let client = browser(&driver, 375, 812).await;
    // 李娜 sees the points pending, and no console.
    client
        .goto(&format!("{base}/app?dd_user=lina"))
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
        .goto(&format!("{base}/app/review?dd_user=hr"))
        .await
        .unwrap();
    let queue = text_of(&client, &format!("#pending-{held}")).await;
    assert!(queue.contains("李娜"), "{queue}");
    screenshot(&client, &format!("review-phone-{}.png", db.store.backend())).await;
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
    let totals = db.store.account("lina").await.unwrap().unwrap().totals;
    assert_eq!((totals.score, totals.pending), (40, 0), "{outcome}");
    // HR's analytics, at a desktop's width.
    client.set_window_size(1280, 800).await.unwrap();
    client.goto(&format!("{base}/app/analytics")).await.unwrap();
    let bands = text_of(&client, "#bands").await;
    assert!(bands.contains("20–49"), "{bands}");
    assert!(client.find(Locator::Css("#bands svg")).await.is_ok());
    screenshot(
        &client,
        &format!("analytics-desktop-{}.png", db.store.backend()),
    )
    .await;
    // And 李娜's page says so.
    client.delete_all_cookies().await.unwrap();
    client
        .goto(&format!("{base}/app?dd_user=lina"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#score").await, "40");
    client.close().await.unwrap();
    emu.stop().await;
}
