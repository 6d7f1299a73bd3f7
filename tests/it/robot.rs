//! The robot end to end: people write to the robot in the DingTalk emulator, which signs
//! and posts their messages to a real `jifen serve`; the answers come back on the
//! message's sessionWebhook. Roles, budgets, review, redelivery, exports and the audit
//! trail, on SQLite and on PostgreSQL.

use crate::support;

use std::time::{Duration, Instant};

use jifen::dingtalk::robot::sign::sign;
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID};
use jifen::emulator::robot::{GROUP_CONVERSATION, RobotDelivery, RobotSend};
use jifen::emulator::{self, EmulatorSettings, RecordedMessage, RunningEmulator};
use serde_json::{Value, json};

const ADMIN: &str = "robot-admin-token";
/// HR admins: 王芳 and 陈静 (two, so that one can approve what the other awarded).
const WANG_FANG: &str = "manager4220";
const CHEN_JING: &str = "16842541552397523";
/// 张伟 leads 华东销售部, where 李强 works.
const ZHANG_WEI: &str = "0941516526848432";
const LI_QIANG: &str = "281826612426286785";
const EAST_SALES: i64 = 575401962;

struct Chat {
    emu: RunningEmulator,
    server: support::Server,
    /// A person outside 华东销售部, and an auditor; both from the generated organisation.
    outsider: String,
    auditor: String,
}

impl Chat {
    async fn start(database_url: &str) -> Chat {
        let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let others: Vec<_> = emu
            .emulator
            .org
            .users
            .iter()
            .filter(|u| ![WANG_FANG, CHEN_JING, ZHANG_WEI, LI_QIANG].contains(&u.userid.as_str()))
            .collect();
        let outsider = others
            .iter()
            .find(|u| u.dept != EAST_SALES && !u.leader)
            .unwrap()
            .userid
            .clone();
        let auditor = others
            .iter()
            .find(|u| u.userid != outsider && !u.leader)
            .unwrap()
            .userid
            .clone();
        let agent = AGENT_ID.to_string();
        let hr = format!("{WANG_FANG},{CHEN_JING}");
        let base = emu.base_url();
        let env: Vec<(&str, &str)> = vec![
            ("JIFEN_DATABASE_URL", database_url),
            ("JIFEN_ADMIN_TOKEN", ADMIN),
            ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
            ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
            ("JIFEN_DINGTALK_AGENT_ID", &agent),
            ("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY),
            ("JIFEN_DINGTALK_API_BASE", &base),
            ("JIFEN_DINGTALK_OAPI_BASE", &base),
            // The emulator's sessionWebhooks are trusted as DingTalk's own would be.
            ("JIFEN_ROBOT_SESSION_WEBHOOK_ORIGINS", &base),
            ("JIFEN_DINGTALK_CORP_ID", CORP_ID),
            ("JIFEN_HR_ADMINS", &hr),
            ("JIFEN_AUDITORS", &auditor),
        ];
        let server = support::spawn_server(&env);
        emu.emulator
            .set_robot_url(format!("http://{}/dingtalk/robot", server.addr));
        let chat = Chat {
            emu,
            server,
            outsider,
            auditor,
        };
        // The address book (with who leads what) comes from DingTalk when the server starts.
        let started = Instant::now();
        while chat
            .get(&format!("/api/v1/employees/{}/account", chat.auditor))
            .await
            .0
            != 200
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "address book never synced"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        chat
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", self.server.addr))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn score(&self, userid: &str) -> (i64, i64) {
        let (_, account) = self
            .get(&format!("/api/v1/employees/{userid}/account"))
            .await;
        (
            account["score"].as_i64().unwrap(),
            account["pending"].as_i64().unwrap(),
        )
    }

    async fn balance(&self, userid: &str) -> i64 {
        let (_, account) = self
            .get(&format!("/api/v1/employees/{userid}/account"))
            .await;
        account["balance"].as_i64().unwrap()
    }

    fn replies(&self) -> Vec<RecordedMessage> {
        self.emu
            .emulator
            .messages()
            .into_iter()
            .filter(|m| m.channel == "robot_session" || m.channel.starts_with("robot_"))
            .collect()
    }

    async fn send(&self, send: RobotSend) -> RobotDelivery {
        let delivery = self.emu.emulator.send_robot_message(&send).await.unwrap();
        assert_eq!(delivery.status, 200, "{delivery:?}\n{}", self.server.log());
        delivery
    }

    /// Sends `text` from `from` in the group, mentioning `mentions`; returns the answer.
    async fn say(&self, from: &str, text: &str, mentions: &[&str]) -> String {
        self.say_with(RobotSend::in_group(from, text, mentions))
            .await
            .text
    }

    async fn say_with(&self, send: RobotSend) -> RecordedMessage {
        let before = self.replies().len();
        let from = send.from.clone();
        self.send(send).await;
        let reply = self.next_reply(before).await;
        if reply.channel == "robot_session" {
            assert!(
                reply.to.contains(&from),
                "the reply mentions the sender: {reply:?}"
            );
        }
        reply
    }

    /// Sends `text` from `from` in the group, for an answer meant for the sender alone: the
    /// answer (one to one) and what the group is told.
    async fn say_privately(
        &self,
        from: &str,
        text: &str,
        mentions: &[&str],
    ) -> (RecordedMessage, RecordedMessage) {
        let before = self.replies().len();
        self.send(RobotSend::in_group(from, text, mentions)).await;
        let mut both = [
            self.next_reply(before).await,
            self.next_reply(before + 1).await,
        ];
        both.sort_by_key(|m| m.channel != "robot_oto");
        let [private, note] = both;
        assert_eq!(
            (private.channel.as_str(), private.to.clone()),
            ("robot_oto", vec![from.to_string()]),
            "{private:?}"
        );
        let told = [
            "结果已私信发给你。",
            "The answer was sent to you privately.",
        ];
        assert!(told.contains(&note.text.as_str()), "{note:?}");
        assert!(
            note.to.contains(&GROUP_CONVERSATION.to_string()),
            "{note:?}"
        );
        (private, note)
    }

    async fn next_reply(&self, before: usize) -> RecordedMessage {
        let started = Instant::now();
        loop {
            let replies = self.replies();
            if replies.len() > before {
                return replies[before].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no reply; server log:\n{}",
                self.server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn audit(&self, userid: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/v1/audit?userid={userid}")).await;
        assert_eq!(status, 200, "{body}");
        body["records"].as_array().unwrap().clone()
    }

    async fn stop(self) {
        let log = self.server.stop();
        assert!(!log.contains(APP_SECRET), "no secrets in the log");
        self.emu.stop().await;
    }
}

/// The shipped catalogue (config/rewards.toml): coffee costs 30 and is granted at once, a
/// book costs 150.
async fn people_redeem_rewards_and_hr_fulfils_refuses_or_they_cancel(database_url: &str) {
    let chat = Chat::start(database_url).await;
    chat.say(WANG_FANG, "奖 @李强 45 季度之星", &[LI_QIANG])
        .await;

    let reply = chat.say(LI_QIANG, "奖品", &[]).await;
    assert!(reply.contains("可用积分：**45**"), "{reply}");
    assert!(reply.contains("`coffee` 咖啡券：30 积分"), "{reply}");
    let reply = chat.say(LI_QIANG, "兑换 book", &[]).await;
    assert_eq!(reply, "可用积分不足：「book」需要 150，你有 45。");
    let reply = chat.say(LI_QIANG, "兑换 yacht", &[]).await;
    assert!(reply.starts_with("没有编号为「yacht」的奖品"), "{reply}");
    let reply = chat.say(LI_QIANG, "兑换", &[]).await;
    assert!(reply.starts_with("缺少奖品编号。"), "{reply}");

    let reply = chat.say(LI_QIANG, "兑换 coffee", &[]).await;
    assert!(reply.contains("等待发放"), "{reply}");
    let coffee = entry_number(&reply);
    assert_eq!(chat.balance(LI_QIANG).await, 15);
    assert_eq!(
        chat.score(LI_QIANG).await,
        (45, 0),
        "the score is not spent"
    );
    let reply = chat.say(LI_QIANG, &format!("发放 {coffee}"), &[]).await;
    assert_eq!(reply, "只有 HR 管理员可以这样做。");
    let reply = chat
        .say(WANG_FANG, &format!("发放 {coffee} 券码 8812"), &[])
        .await;
    assert!(reply.contains("已发放"), "{reply}");
    let reply = chat.say(LI_QIANG, "redemptions", &[]).await;
    assert!(reply.contains("fulfilled（券码 8812）"), "{reply}");
    let reply = chat.say(LI_QIANG, "redeem coffee", &[]).await;
    assert_eq!(
        reply,
        "\"coffee\" cannot be redeemed: it costs 30 balance points and the balance is 15."
    );

    // Refused by HR, or cancelled by its person: the points come back.
    chat.say(WANG_FANG, "奖 @李强 45 再接再厉", &[LI_QIANG])
        .await;
    let refused = entry_number(&chat.say(LI_QIANG, "兑换 coffee", &[]).await);
    let reply = chat.say(WANG_FANG, "兑换记录", &[]).await;
    assert!(
        reply.contains(&format!("#{refused}")),
        "HR sees the queue: {reply}"
    );
    let reply = chat
        .say(WANG_FANG, &format!("拒绝兑换 {refused}"), &[])
        .await;
    assert!(reply.starts_with("请写明理由。"), "{reply}");
    let reply = chat
        .say(WANG_FANG, &format!("拒绝兑换 {refused} 本月已发完"), &[])
        .await;
    assert!(reply.contains("已退还 30 可用积分"), "{reply}");
    assert_eq!(chat.balance(LI_QIANG).await, 60);
    let reply = chat
        .say(WANG_FANG, &format!("拒绝兑换 {refused} 再拒一次"), &[])
        .await;
    assert!(reply.contains("已处理过了"), "{reply}");
    let cancelled = entry_number(&chat.say(LI_QIANG, "兑换 coffee", &[]).await);
    let reply = chat
        .say(WANG_FANG, &format!("取消兑换 {cancelled}"), &[])
        .await;
    assert!(reply.contains("只能由本人取消"), "{reply}");
    let reply = chat
        .say(LI_QIANG, &format!("取消兑换 {cancelled}"), &[])
        .await;
    assert!(reply.contains("已取消，已退还 30 可用积分"), "{reply}");
    assert_eq!(chat.balance(LI_QIANG).await, 60);
    assert_eq!(chat.score(LI_QIANG).await, (90, 0));

    // The person was told at each step.
    let started = Instant::now();
    let wanted = [
        "奖品已发放",
        "兑换被驳回，积分已退还",
        "兑换已取消，积分已退还",
    ];
    loop {
        let told: Vec<String> = chat
            .emu
            .emulator
            .messages()
            .into_iter()
            .filter(|m| m.channel == "work_notification" && m.to.contains(&LI_QIANG.to_string()))
            .map(|m| m.title)
            .collect();
        if wanted.iter().all(|w| told.iter().any(|t| t == w)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{told:?}\n{}",
            chat.server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    chat.stop().await;
}

async fn a_person_appeals_a_deduction_and_another_hr_admin_decides(database_url: &str) {
    let chat = Chat::start(database_url).await;
    let deduction = entry_number(
        &chat
            .say(ZHANG_WEI, "扣 @李强 4 迟交报表", &[LI_QIANG])
            .await,
    );
    let reply = chat
        .say(LI_QIANG, &format!("申诉 {deduction} 报表已按时提交"), &[])
        .await;
    assert!(reply.starts_with("已提交申诉 #"), "{reply}");
    let appeal = entry_number(&reply);
    let reply = chat
        .say(LI_QIANG, &format!("申诉 {deduction} 再来一次"), &[])
        .await;
    assert!(reply.contains("已经申诉过了"), "{reply}");
    let reply = chat
        .say(ZHANG_WEI, &format!("申诉成立 {appeal}"), &[])
        .await;
    assert_eq!(reply, "只有 HR 管理员可以这样做。");
    let reply = chat.say(WANG_FANG, "申诉列表", &[]).await;
    assert!(
        reply.contains(&format!("申诉 #{appeal}")) && reply.contains("已等"),
        "{reply}"
    );
    let reply = chat
        .say(WANG_FANG, &format!("申诉成立 {appeal} 3 部分属实"), &[])
        .await;
    assert!(reply.contains("退还 3 积分"), "{reply}");
    assert_eq!(chat.score(LI_QIANG).await, (-1, 0));

    // HR's own deduction is decided by the other HR admin.
    let by_hr = entry_number(&chat.say(WANG_FANG, "扣 @李强 2 未打卡", &[LI_QIANG]).await);
    let second = entry_number(
        &chat
            .say(LI_QIANG, &format!("appeal {by_hr} I did check in"), &[])
            .await,
    );
    let reply = chat
        .say(WANG_FANG, &format!("申诉驳回 {second} 无记录"), &[])
        .await;
    assert!(reply.contains("另一位 HR"), "{reply}");
    let reply = chat
        .say(CHEN_JING, &format!("dismiss {second} no record of it"), &[])
        .await;
    assert_eq!(reply, format!("Appeal #{second} rejected."));
    assert_eq!(chat.score(LI_QIANG).await, (-3, 0));

    let started = Instant::now();
    loop {
        let told: Vec<String> = chat
            .emu
            .emulator
            .messages()
            .into_iter()
            .filter(|m| m.channel == "work_notification" && m.to.contains(&LI_QIANG.to_string()))
            .map(|m| m.title)
            .collect();
        if ["申诉成立", "申诉驳回"]
            .iter()
            .all(|w| told.iter().any(|t| t == w))
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{told:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    chat.stop().await;
}

/// The shipped badges and levels (config/badges.toml): HR grants 金牌导师 by hand; the
/// points answer shows the level and the badges.
async fn hr_grants_a_badge_and_people_see_their_level_and_badges(database_url: &str) {
    let chat = Chat::start(database_url).await;
    chat.say(WANG_FANG, "奖 @李强 40 季度之星", &[LI_QIANG])
        .await;
    let reply = chat
        .say(ZHANG_WEI, "颁发 @李强 mentor 带新人", &[LI_QIANG])
        .await;
    assert_eq!(reply, "只有 HR 管理员可以这样做。");
    let reply = chat
        .say(WANG_FANG, "颁发 @李强 score_500 凑数", &[LI_QIANG])
        .await;
    assert!(reply.contains("不能手动颁发"), "{reply}");
    let reply = chat.say(WANG_FANG, "颁发 @李强 mentor", &[LI_QIANG]).await;
    assert!(reply.starts_with("请写明理由。"), "{reply}");
    let reply = chat
        .say(WANG_FANG, "颁发 @李强 mentor 带教三位新人", &[LI_QIANG])
        .await;
    assert_eq!(reply, "已为 李强 颁发徽章「金牌导师」。");
    let reply = chat
        .say(WANG_FANG, "颁发 @李强 mentor 再来", &[LI_QIANG])
        .await;
    assert_eq!(reply, "已经有这个徽章了。");
    let reply = chat.say(LI_QIANG, "积分", &[]).await;
    assert!(
        reply.contains("等级：**青铜**，距「白银」还差 60 分"),
        "{reply}"
    );
    assert!(reply.contains("徽章：金牌导师"), "{reply}");
    let reply = chat.say(LI_QIANG, "挑战", &[]).await;
    assert!(reply.contains("还没有设置团队挑战"), "{reply}");
    let reply = chat.say(LI_QIANG, "badges", &[]).await;
    assert!(
        reply.contains("🏅 Mentor") && reply.contains("▫️ Attendance star"),
        "{reply}"
    );
    chat.stop().await;
}

/// The entry number in an answer like "已为 李强 记 +5 积分（#12）".
fn entry_number(answer: &str) -> i64 {
    let start = answer.find('#').expect("an entry number") + 1;
    answer[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

async fn managers_award_only_their_people_within_budget_and_once_per_message(database_url: &str) {
    let chat = Chat::start(database_url).await;

    // 张伟 rewards 李强, who works in his department.
    let award = RobotSend {
        msg_id: Some("msg-award-1".into()),
        ..RobotSend::in_group(ZHANG_WEI, "奖 @李强 5 协助客户回访", &[LI_QIANG])
    };
    let reply = chat.say_with(award.clone()).await;
    assert!(
        reply.text.starts_with("已为 李强 记 +5 积分（#"),
        "{}",
        reply.text
    );
    assert!(reply.to.contains(&GROUP_CONVERSATION.to_string()));
    assert_eq!(reply.body["msgtype"], "markdown");
    assert_eq!(chat.score(LI_QIANG).await, (5, 0));

    // DingTalk delivers the same message again: acknowledged, nothing posted or answered.
    let replies = chat.replies().len();
    chat.send(award).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        chat.replies().len(),
        replies,
        "a redelivery is not answered twice"
    );
    assert_eq!(chat.score(LI_QIANG).await, (5, 0));

    // 李强 is told, by work notification.
    let notified = chat.emu.emulator.messages().into_iter().any(|m| {
        m.channel == "work_notification" && m.to == [LI_QIANG] && m.text.contains("协助客户回访")
    });
    assert!(notified, "{:#?}", chat.emu.emulator.messages());

    // Outside his departments, over his budget, for himself: refused with the reason.
    let outsider = chat.outsider.clone();
    let reply = chat.say(ZHANG_WEI, "奖 @某人 5 帮忙", &[&outsider]).await;
    assert!(reply.contains("不在你管理的部门"), "{reply}");
    let reply = chat
        .say(ZHANG_WEI, "奖 @李强 96 年度贡献", &[LI_QIANG])
        .await;
    assert_eq!(
        reply,
        "超出本月预算：预算 100 分，已用 5 分，还剩 95 分，不够 96 分。"
    );
    let reply = chat
        .say(ZHANG_WEI, "award @Zhang 5 myself", &[ZHANG_WEI])
        .await;
    assert_eq!(reply, "Nobody can award or deduct their own points.");
    // An employee cannot award at all.
    let reply = chat
        .say(LI_QIANG, "奖 @张伟 5 谢谢领导", &[ZHANG_WEI])
        .await;
    assert_eq!(reply, "只有部门主管和 HR 可以加减分或撤销。");
    // A wrong command says what was expected.
    let reply = chat.say(ZHANG_WEI, "奖 @李强 五分 加班", &[LI_QIANG]).await;
    assert!(reply.contains("用法：奖 @某人 积分 理由"), "{reply}");
    // Deductions do not use the budget.
    let reply = chat
        .say(ZHANG_WEI, "扣 @李强 2 会议迟到", &[LI_QIANG])
        .await;
    assert!(reply.starts_with("已为 李强 记 -2 积分"), "{reply}");

    // Nothing refused changed anything.
    assert_eq!(chat.score(LI_QIANG).await, (3, 0));
    assert_eq!(chat.score(&outsider).await, (0, 0));
    assert_eq!(chat.score(ZHANG_WEI).await, (0, 0));

    // Every attempt is in the audit trail, with the command as typed and the result.
    let trail = chat.audit(ZHANG_WEI).await;
    let commands: Vec<(&str, &str)> = trail
        .iter()
        .filter(|r| r["action"] == "bot_command")
        .map(|r| {
            (
                r["reason"].as_str().unwrap(),
                r["detail"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        commands,
        [
            ("扣 @李强 2 会议迟到", "ok"),
            ("奖 @张伟 5 谢谢领导", "refused"),
            ("award @Zhang 5 myself", "refused"),
            ("奖 @李强 96 年度贡献", "refused"),
            ("奖 @某人 5 帮忙", "refused"),
            ("奖 @李强 5 协助客户回访", "ok"),
        ]
    );

    // Anyone may ask: points, ranks, history, rules, help.
    let reply = chat.say(LI_QIANG, "积分", &[]).await;
    assert!(
        reply.contains("总积分 **3**") && reply.contains("华东销售部 排名"),
        "{reply}"
    );
    assert!(
        reply.contains("协助客户回访") && reply.contains("会议迟到"),
        "{reply}"
    );
    let reply = chat.say(LI_QIANG, "排行 本月 部门", &[]).await;
    assert!(
        reply.starts_with("### 本月排行 · 华东销售部\n1. 李强 **3** ← 你"),
        "{reply}"
    );
    let reply = chat.say(LI_QIANG, "history", &[]).await;
    assert!(reply.contains("Added to the score: **+3**"), "{reply}");
    let reply = chat.say(LI_QIANG, "帮助", &[]).await;
    assert!(
        reply.contains("用法：积分") && !reply.contains("用法：奖 @"),
        "{reply}"
    );
    chat.stop().await;
}

async fn hr_reviews_large_awards_sets_budgets_revokes_and_exports(database_url: &str) {
    let chat = Chat::start(database_url).await;

    // Above the review threshold (50), an award waits for another HR admin.
    let reply = chat
        .say(WANG_FANG, "奖 @李强 80 年度贡献", &[LI_QIANG])
        .await;
    assert!(reply.contains("等待 HR 审核"), "{reply}");
    let pending = entry_number(&reply);
    assert_eq!(chat.score(LI_QIANG).await, (0, 80));
    let reply = chat.say(WANG_FANG, &format!("批准 {pending}"), &[]).await;
    assert!(reply.contains("另一位 HR"), "{reply}");
    let reply = chat
        .say(CHEN_JING, &format!("approve {pending}"), &[])
        .await;
    assert!(
        reply.starts_with(&format!("Entry #{pending} was approved")),
        "{reply}"
    );
    assert_eq!(chat.score(LI_QIANG).await, (80, 0));
    // Deciding twice is refused.
    let reply = chat
        .say(CHEN_JING, &format!("驳回 {pending} 重复"), &[])
        .await;
    assert!(reply.contains("不在待审核状态"), "{reply}");

    // Budgets: only for managers; a raised budget lets 张伟 award more.
    let reply = chat.say(WANG_FANG, "预算 @李强 50", &[LI_QIANG]).await;
    assert!(reply.contains("不是部门主管"), "{reply}");
    let reply = chat.say(ZHANG_WEI, "预算 @张伟 500", &[ZHANG_WEI]).await;
    assert_eq!(reply, "只有 HR 管理员可以这样做。");
    let reply = chat.say(WANG_FANG, "预算 @张伟 200", &[ZHANG_WEI]).await;
    assert_eq!(reply, "已把 张伟 的每月预算设为 200 分（本月已用 0 分）。");
    let reply = chat
        .say(ZHANG_WEI, "奖 @李强 120 季度冠军", &[LI_QIANG])
        .await;
    assert!(reply.contains("等待 HR 审核"), "{reply}");
    let reply = chat.say(ZHANG_WEI, "奖 @李强 81 再来", &[LI_QIANG]).await;
    assert!(reply.contains("还剩 80 分"), "{reply}");

    // Revoking takes the points back, once.
    let reply = chat
        .say(ZHANG_WEI, "扣 @李强 4 迟交报表", &[LI_QIANG])
        .await;
    let deduction = entry_number(&reply);
    assert_eq!(chat.score(LI_QIANG).await.0, 76);
    let reply = chat
        .say(WANG_FANG, &format!("撤销 {deduction} 录入错误"), &[])
        .await;
    assert!(
        reply.starts_with(&format!("已撤销第 {deduction} 条记录：+4 积分")),
        "{reply}"
    );
    assert_eq!(chat.score(LI_QIANG).await.0, 80);
    let reply = chat
        .say(WANG_FANG, &format!("撤销 {deduction} 又错了"), &[])
        .await;
    assert!(reply.contains("已被第"), "{reply}");

    // A large deduction waits for review like a large award (the 120 above still waits).
    assert_eq!(chat.score(LI_QIANG).await, (80, 120));
    let reply = chat
        .say(ZHANG_WEI, "扣 @李强 60 严重违规", &[LI_QIANG])
        .await;
    assert!(reply.contains("等待 HR 审核"), "{reply}");
    assert_eq!(chat.score(LI_QIANG).await, (80, 60));
    let held = entry_number(&reply);
    let reply = chat
        .say(WANG_FANG, &format!("驳回 {held} 证据不足"), &[])
        .await;
    assert!(reply.contains("被驳回"), "{reply}");
    assert_eq!(chat.score(LI_QIANG).await, (80, 120));

    // The export link downloads this month's CSV without a login, and only as signed.
    let month = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .strftime("%Y-%m")
        .to_string();
    // Asked in the group, the link goes to 王芳 alone; the group is told where it went.
    let (private, _) = chat
        .say_privately(WANG_FANG, &format!("导出 {month}"), &[])
        .await;
    let reply = private.text;
    let link = reply
        .split("](")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("a link")
        .to_string();
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with("\u{feff}id,occurred_at,"), "{csv}");
    assert!(csv.contains("李强") && csv.contains("年度贡献"), "{csv}");
    let tampered = link.replace(&format!("/export/{month}"), "/export/2000-01");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);

    // Auditors read the trail and nothing else; employees not even that.
    let auditor = chat.auditor.clone();
    let (private, _) = chat
        .say_privately(&auditor, "审计 @李强", &[LI_QIANG])
        .await;
    let reply = private.text;
    assert!(
        reply.contains("### 审计记录：281826612426286785"),
        "{reply}"
    );
    assert!(
        reply.contains("bot_command") && reply.contains("年度贡献"),
        "{reply}"
    );
    let (private, _) = chat
        .say_privately(&auditor, &format!("导出 {month}"), &[])
        .await;
    assert_eq!(private.text, "只有 HR 管理员可以这样做。");
    let (private, _) = chat.say_privately(LI_QIANG, "audit", &[]).await;
    assert_eq!(
        private.text,
        "Only HR and auditors can read the audit trail."
    );
    // The trail keeps who asked for a link, not the link.
    let exports: Vec<Value> = chat
        .audit(WANG_FANG)
        .await
        .into_iter()
        .filter(|r| r["reason"].as_str().is_some_and(|t| t.contains("导出")))
        .collect();
    assert!(!exports.is_empty());
    assert!(
        exports
            .iter()
            .all(|r| r["detail"]["reply"] == "sent privately"),
        "{exports:?}"
    );
    chat.stop().await;
}

async fn replies_fall_back_to_the_robot_api_and_bad_requests_are_refused(database_url: &str) {
    let chat = Chat::start(database_url).await;

    // A sessionWebhook about to expire is not used; the sender gets the answer one to one
    // (the group a message names is in its unsigned body, so jifen never posts there).
    let reply = chat
        .say_with(RobotSend {
            webhook_ttl_ms: Some(1_000),
            ..RobotSend::in_group(LI_QIANG, "规则", &[])
        })
        .await;
    assert_eq!(
        (reply.channel.as_str(), reply.to.clone()),
        ("robot_oto", vec![LI_QIANG.to_string()])
    );
    // In a direct chat, the answer goes to the person.
    let reply = chat
        .say_with(RobotSend {
            group: false,
            webhook_ttl_ms: Some(1_000),
            ..RobotSend::in_group(LI_QIANG, "points", &[])
        })
        .await;
    assert_eq!(
        (reply.channel.as_str(), reply.to.clone()),
        ("robot_oto", vec![LI_QIANG.to_string()])
    );

    // Someone not in the address book is told so.
    let reply = chat.say("stranger42", "积分", &[]).await;
    assert!(reply.contains("不在 jifen 的通讯录里"), "{reply}");

    // Forged, stale, unsigned, malformed, oversized or misaddressed: refused, nothing stored.
    let url = format!("http://{}/dingtalk/robot", chat.server.addr);
    let now = jiff::Timestamp::now().as_millisecond();
    let body = json!({"msgId": "forged-1", "msgtype": "text", "text": {"content": "奖 @李强 99 x"},
        "senderStaffId": WANG_FANG, "conversationType": "1", "atUsers": [{"staffId": LI_QIANG}]});
    let signed = |ts: i64| (ts.to_string(), sign(APP_SECRET, &ts.to_string()));
    let (ts, good) = signed(now);
    let (old_ts, old_sign) = signed(now - 3_700_000);
    let other = sign("not-the-secret", &ts);
    // (what is wrong, the timestamp and sign headers, the body, the status expected)
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, String, u16);
    let cases: Vec<Case> = vec![
        ("wrong secret", Some((&ts, &other)), body.to_string(), 401),
        (
            "stale timestamp",
            Some((&old_ts, &old_sign)),
            body.to_string(),
            401,
        ),
        ("no headers", None, body.to_string(), 401),
        ("not JSON", Some((&ts, &good)), "{not json".into(), 400),
        (
            "no msgId",
            Some((&ts, &good)),
            json!({"msgtype": "text"}).to_string(),
            400,
        ),
        (
            "another robot",
            Some((&ts, &good)),
            json!({"msgId": "m-other", "robotCode": "dingsomeoneelse", "chatbotCorpId": CORP_ID})
                .to_string(),
            403,
        ),
        (
            "no robot named",
            Some((&ts, &good)),
            json!({"msgId": "m-none", "chatbotCorpId": CORP_ID}).to_string(),
            403,
        ),
        (
            "another organisation",
            Some((&ts, &good)),
            json!({"msgId": "m-corp", "robotCode": APP_KEY, "chatbotCorpId": "dingelsewhere"})
                .to_string(),
            403,
        ),
        (
            "oversized",
            Some((&ts, &good)),
            format!("{{\"x\":\"{}\"}}", "a".repeat(70_000)),
            413,
        ),
    ];
    let client = reqwest::Client::new();
    for (case, headers, body, status) in cases {
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some((ts, sign)) = headers {
            request = request.header("timestamp", ts).header("sign", sign);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{case}");
    }
    assert_eq!(chat.score(LI_QIANG).await, (0, 0));
    assert!(chat.audit(WANG_FANG).await.is_empty());

    // Captured headers with a body of someone's making: whatever webhook the body names, the
    // answer goes to the sender through the robot API, never to that address.
    let before = chat.replies().len();
    let forged = json!({"msgId": "forged-webhook", "msgtype": "text", "text": {"content": "积分"},
        "senderStaffId": LI_QIANG, "conversationType": "2", "conversationId": "cidSomeOtherGroup==",
        "robotCode": APP_KEY, "chatbotCorpId": CORP_ID,
        "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=stolen",
        "sessionWebhookExpiredTime": now + 3_600_000});
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("timestamp", &ts)
        .header("sign", &good)
        .body(forged.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let reply = chat.next_reply(before).await;
    assert_eq!(
        (reply.channel.as_str(), reply.to.clone()),
        ("robot_oto", vec![LI_QIANG.to_string()]),
        "{reply:?}"
    );
    let log = chat.server.log();
    assert!(log.contains("robot message refused"), "{log}");
    assert!(!log.contains("奖 @李强 99"), "what was typed is not logged");
    chat.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::support::skip_postgres() {
                        return;
                    }
                    let db = super::support::FreshPgDatabase::create("jifen_robot").await;
                    super::$name(&db.url).await;
                    db.drop().await;
                }
            )*
        }
    };
}

on_both_backends!(
    managers_award_only_their_people_within_budget_and_once_per_message,
    hr_reviews_large_awards_sets_budgets_revokes_and_exports,
    replies_fall_back_to_the_robot_api_and_bad_requests_are_refused,
    people_redeem_rewards_and_hr_fulfils_refuses_or_they_cancel,
    a_person_appeals_a_deduction_and_another_hr_admin_decides,
    hr_grants_a_badge_and_people_see_their_level_and_badges,
);
