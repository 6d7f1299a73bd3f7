//! The micro-app (H5 微应用) DingTalk opens inside its client. The page asks DingTalk's JSAPI
//! for a free-login code (免登), jifen exchanges it for the person server-side and keeps them
//! in a signed session cookie; then the employee's pages, rendered on the server.

mod analytics;
mod charts;
mod history;
mod home;
mod review;
mod rewards;
pub mod session;

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use self::history::History;
use self::home::Home;
use self::session::{COOKIE, SessionKeys, cookie_value};
use super::{ApiError, AppState};
use crate::bot::command::{Change, MAX_POINTS};
use crate::bot::roles::Roles;
use crate::bot::{Acted, Bot};
use crate::dingtalk::openapi::{OpenApiClient, Retry};
use crate::domain::{Employee, Lang, Month};
use crate::leaderboard::{BoardQuery, Standings, Window};
use crate::rules::RuleSet;
use crate::rules::plain::{Plain, describe_all};

/// What the micro-app needs beyond the shared state.
pub struct MicroApp {
    pub client: Arc<OpenApiClient>,
    /// Carries out HR's decisions with the robot's checks.
    pub bot: Arc<Bot>,
    /// The rules, for the categories people filter by and the rules page.
    pub rules: Arc<RuleSet>,
    pub sessions: SessionKeys,
    /// Where the page loads DingTalk's JSAPI from.
    pub jsapi_url: String,
    pub corp_id: String,
    /// The app key, which newer clients' `dd.requestAuthCode` asks for as `clientId`.
    pub client_id: String,
    /// Mark the cookie `Secure` (the page is served over HTTPS).
    pub secure_cookie: bool,
}

const LANG_COOKIE: &str = "jifen_lang";

/// The words of the pages, in one language.
pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub app: &'static str,
    pub signing_in: &'static str,
    pub login_failed: &'static str,
    pub outside_dingtalk: &'static str,
    pub score: &'static str,
    pub balance: &'static str,
    pub pending: &'static str,
    pub this_week: &'static str,
    pub last_week: &'static str,
    pub places: &'static str,
    pub company: &'static str,
    pub department: &'static str,
    pub latest: &'static str,
    pub no_entries: &'static str,
    pub home: &'static str,
    pub history: &'static str,
    pub all_categories: &'static str,
    pub filter: &'static str,
    pub reverses: &'static str,
    pub reversed_by: &'static str,
    pub not_yours: &'static str,
    pub rank: &'static str,
    pub my_place: &'static str,
    pub not_ranked: &'static str,
    pub name: &'static str,
    pub points: &'static str,
    pub how_to_earn: &'static str,
    pub earns: &'static str,
    pub costs: &'static str,
    pub review: &'static str,
    pub waiting: &'static str,
    pub nothing_waits: &'static str,
    pub reason: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub hr_only: &'static str,
    pub stale_form: &'static str,
    pub analytics: &'static str,
    pub previous: &'static str,
    pub bands: &'static str,
    pub people: &'static str,
    pub departments: &'static str,
    pub per_head: &'static str,
    pub earned: &'static str,
    pub attainment: &'static str,
    pub rule: &'static str,
    pub fired: &'static str,
    pub never_fired: &'static str,
    pub health: &'static str,
    pub failed_inbox: &'static str,
    pub dead_outbox: &'static str,
    pub analysts_only: &'static str,
    pub not_your_department: &'static str,
    pub whole_company: &'static str,
    pub trend: &'static str,
    pub month: &'static str,
    pub entries_csv: &'static str,
    pub totals_xlsx: &'static str,
    pub exports: &'static str,
    pub no_closed_months: &'static str,
    pub exports_off: &'static str,
    pub adjust: &'static str,
    pub award_or_deduct: &'static str,
    pub userid: &'static str,
    pub points_signed: &'static str,
    pub reason_required: &'static str,
    pub submit: &'static str,
    pub revoke: &'static str,
    pub entry_number: &'static str,
    pub adjust_note: &'static str,
    pub managers_only: &'static str,
    pub rewards: &'static str,
    pub level: &'static str,
    pub badges: &'static str,
    pub on_offer: &'static str,
    pub points_unit: &'static str,
    pub left: &'static str,
    pub redeem: &'static str,
    pub my_redemptions: &'static str,
    pub my_appeals: &'static str,
    pub appeal_entry: &'static str,
    pub appeal: &'static str,
    pub cancel: &'static str,
    pub none_yet: &'static str,
    pub rewards_note: &'static str,
    pub redemptions_waiting: &'static str,
    pub appeals_waiting: &'static str,
    pub grant: &'static str,
    pub fulfil: &'static str,
    pub refuse: &'static str,
    pub uphold: &'static str,
    pub dismiss: &'static str,
    pub note: &'static str,
    pub points_back: &'static str,
    pub waited: &'static str,
    pub challenges: &'static str,
}

const ZH: Texts = Texts {
    lang: "zh-CN",
    other_lang: "en",
    other_lang_name: "English",
    app: "积分",
    signing_in: "正在通过钉钉登录…",
    login_failed: "钉钉登录失败，请关闭页面后重新打开。",
    outside_dingtalk: "请在钉钉中打开此页面（工作台 → 积分）。",
    score: "累计积分",
    balance: "可用积分",
    pending: "待审核",
    this_week: "本周积分",
    last_week: "上周",
    places: "我的排名",
    company: "全公司",
    department: "部门",
    latest: "最近记录",
    no_entries: "还没有积分记录。",
    home: "首页",
    history: "积分明细",
    all_categories: "全部类别",
    filter: "筛选",
    reverses: "撤销",
    reversed_by: "已被撤销：",
    not_yours: "只能查看自己的积分明细。",
    rank: "排行榜",
    my_place: "我的位置",
    not_ranked: "暂未上榜。",
    name: "姓名",
    points: "积分",
    how_to_earn: "积分规则",
    earns: "加分项",
    costs: "扣分项",
    review: "审核",
    waiting: "待审核",
    nothing_waits: "没有待审核的记录。",
    reason: "理由（驳回时必填）",
    approve: "批准",
    reject: "驳回",
    hr_only: "只有人事管理员可以审核。",
    stale_form: "页面已过期，请刷新后再试。",
    analytics: "数据分析",
    previous: "上一期",
    bands: "积分分布",
    people: "人数",
    departments: "部门对比",
    per_head: "人均",
    earned: "获得积分者",
    attainment: "规则达成",
    rule: "规则",
    fired: "次数",
    never_fired: "本期从未触发",
    health: "系统健康",
    failed_inbox: "处理失败的事件",
    dead_outbox: "发送失败的消息",
    analysts_only: "只有人事管理员、审计员和部门经理可以查看数据分析。",
    not_your_department: "只能查看你管理的部门及其下级部门。",
    whole_company: "全公司",
    trend: "月度趋势",
    month: "月份",
    entries_csv: "明细 CSV",
    totals_xlsx: "汇总 XLSX",
    exports: "已结账月份导出",
    no_closed_months: "还没有结账的月份。",
    exports_off: "导出未配置（需要应用的 AppSecret）",
    adjust: "奖扣",
    award_or_deduct: "奖励或扣分",
    userid: "对象的 userid",
    points_signed: "积分（扣分为负数）",
    reason_required: "理由（必填）",
    submit: "提交",
    revoke: "撤销一条记录",
    entry_number: "记录编号",
    adjust_note: "与机器人的奖、扣、撤销命令相同：只限自己管理的部门，经理有每月额度，大额需人事审核，不能给自己加分，每次操作都记入审计。",
    rewards: "商城",
    level: "等级",
    badges: "徽章",
    on_offer: "积分商城",
    points_unit: "积分",
    left: "剩余",
    redeem: "兑换",
    my_redemptions: "我的兑换",
    my_appeals: "我的申诉",
    appeal_entry: "申诉一条扣分记录",
    appeal: "申诉",
    cancel: "取消",
    none_yet: "暂无",
    rewards_note: "兑换只用可用积分，累计积分和排名不变；驳回或取消会退还。申诉由另一位 HR 处理，结果会通知你。",
    redemptions_waiting: "待处理的兑换",
    appeals_waiting: "待处理的申诉",
    grant: "同意",
    fulfil: "发放",
    refuse: "驳回",
    uphold: "申诉成立",
    dismiss: "申诉驳回",
    note: "说明或理由",
    points_back: "退还积分（默认全部）",
    waited: "已等",
    challenges: "团队挑战",
    managers_only: "只有经理和人事管理员可以奖扣积分。",
};

const EN: Texts = Texts {
    lang: "en",
    other_lang: "zh",
    other_lang_name: "中文",
    app: "Points",
    signing_in: "Signing in through DingTalk…",
    login_failed: "Signing in through DingTalk failed; close the page and open it again.",
    outside_dingtalk: "Open this page inside DingTalk (Workbench → Points).",
    score: "Score",
    balance: "Balance",
    pending: "Pending",
    this_week: "This week",
    last_week: "last week",
    places: "My places",
    company: "Company",
    department: "Department",
    latest: "Latest entries",
    no_entries: "No entries yet.",
    home: "Home",
    history: "History",
    all_categories: "All categories",
    filter: "Filter",
    reverses: "reverses",
    reversed_by: "reversed by",
    not_yours: "You can see only your own history.",
    rank: "Leaderboard",
    my_place: "My place",
    not_ranked: "Not on this board yet.",
    name: "Name",
    points: "Points",
    how_to_earn: "How to earn",
    earns: "What earns points",
    costs: "What costs points",
    review: "Review",
    waiting: "Waiting for review",
    nothing_waits: "Nothing waits for review.",
    reason: "Reason (needed to reject)",
    approve: "Approve",
    reject: "Reject",
    hr_only: "Only HR admins review entries.",
    stale_form: "The page expired; reload it and try again.",
    analytics: "Analytics",
    previous: "Previous",
    bands: "How points spread",
    people: "People",
    departments: "Departments compared",
    per_head: "Per head",
    earned: "Earned any",
    attainment: "Rule attainment",
    rule: "Rule",
    fired: "Fired",
    never_fired: "Never fired in this period",
    health: "Pipeline health",
    failed_inbox: "Events failed",
    dead_outbox: "Messages dead-lettered",
    analysts_only: "Only HR admins, auditors and managers see analytics.",
    not_your_department: "You see only the departments you manage and those below them.",
    whole_company: "Whole company",
    trend: "Monthly trend",
    month: "Month",
    entries_csv: "Entries CSV",
    totals_xlsx: "Totals XLSX",
    exports: "Closed months to export",
    no_closed_months: "No month is closed yet.",
    exports_off: "exports are not configured (they need the app secret)",
    adjust: "Award",
    award_or_deduct: "Award or deduct",
    userid: "The person's userid",
    points_signed: "Points (negative to deduct)",
    reason_required: "Reason (required)",
    submit: "Submit",
    revoke: "Revoke an entry",
    entry_number: "Entry number",
    adjust_note: "The same as the robot's award, deduct and revoke: only in the departments one manages, within a manager's monthly budget, large amounts reviewed by HR, never one's own points, every action audited.",
    rewards: "Rewards",
    level: "Level",
    badges: "Badges",
    on_offer: "Rewards",
    points_unit: "points",
    left: "left",
    redeem: "Redeem",
    my_redemptions: "My redemptions",
    my_appeals: "My appeals",
    appeal_entry: "Appeal a deduction",
    appeal: "Appeal",
    cancel: "Cancel",
    none_yet: "None yet",
    rewards_note: "Redeeming spends only the balance; the score and rankings stay. A rejection or cancellation refunds it. Another HR admin decides appeals, and you are told.",
    redemptions_waiting: "Redemptions waiting",
    appeals_waiting: "Open appeals",
    grant: "Grant",
    fulfil: "Hand over",
    refuse: "Refuse",
    uphold: "Uphold",
    dismiss: "Dismiss",
    note: "Note or reason",
    points_back: "Points back (default all)",
    waited: "waiting",
    challenges: "Team challenges",
    managers_only: "Only managers and HR admins award or deduct points.",
};

impl Texts {
    fn of(lang: Lang) -> &'static Texts {
        match lang {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    pub fn window(&self, window: &Window) -> &'static str {
        let zh = self.lang == ZH.lang;
        match (window, zh) {
            (Window::Week, true) => "本周",
            (Window::Month, true) => "本月",
            (Window::Quarter, true) => "本季",
            (Window::Year, true) => "本年",
            (Window::All, true) => "总榜",
            (Window::Week, false) => "This week",
            (Window::Month, false) => "This month",
            (Window::Quarter, false) => "This quarter",
            (Window::Year, false) => "This year",
            (Window::All, false) => "All time",
        }
    }

    pub fn status(&self, status: &str) -> &'static str {
        let zh = self.lang == ZH.lang;
        match (status, zh) {
            ("pending", true) => "待审核",
            ("approved", true) => "已通过",
            ("rejected", true) => "已驳回",
            ("reversed", true) => "已撤销",
            (_, true) => "已入账",
            ("pending", false) => "pending",
            ("approved", false) => "approved",
            ("rejected", false) => "rejected",
            ("reversed", false) => "reversed",
            (_, false) => "posted",
        }
    }
}

/// Which parts of the HR console the navigation offers this person; each page checks again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Console {
    pub adjust: bool,
    pub review: bool,
    pub analytics: bool,
}

impl Console {
    fn of(app: &MicroApp, me: &Employee) -> Console {
        let roles = Roles::of(&me.userid, &app.bot.settings.roles, &me.leads);
        Console {
            adjust: roles.hr_admin || roles.is_manager(),
            review: roles.hr_admin,
            analytics: roles.hr_admin || roles.auditor || roles.is_manager(),
        }
    }
}

#[derive(Template)]
#[template(path = "app/login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    jsapi_url: &'a str,
    corp_id: &'a str,
    client_id: &'a str,
}

#[derive(Template)]
#[template(path = "app/home.html")]
struct HomePage {
    t: &'static Texts,
    console: Console,
    home: Home,
}

#[derive(Template)]
#[template(path = "app/history.html")]
struct HistoryPage {
    t: &'static Texts,
    console: Console,
    history: History,
}

#[derive(Template)]
#[template(path = "app/rank.html")]
struct RankPage<'a> {
    t: &'static Texts,
    console: Console,
    standings: Standings,
    windows: [Window; 5],
    window: Window,
    /// `company`, or `department` (the person's first).
    scope: &'a str,
    department: Option<String>,
    me_userid: &'a str,
}

#[derive(Template)]
#[template(path = "app/rules.html")]
struct RulesPage {
    t: &'static Texts,
    console: Console,
    rules: Vec<Plain>,
}

#[derive(Template)]
#[template(path = "app/review.html")]
struct ReviewPage<'a> {
    t: &'static Texts,
    console: Console,
    items: Vec<review::Item>,
    redemptions: Vec<review::OpenRedemption>,
    appeals: Vec<review::OpenAppeal>,
    csrf: &'a str,
    nonce: &'a str,
    outcome: Option<String>,
}

#[derive(Template)]
#[template(path = "app/analytics.html")]
struct AnalyticsPage {
    t: &'static Texts,
    console: Console,
    a: analytics::Analytics,
    windows: [Window; 5],
    /// HR or an auditor: the whole organisation is theirs to see.
    company: bool,
    /// From the top down to the department analysed (empty for the whole organisation).
    path: Vec<Crumb>,
    /// For a manager: the departments they manage, `(id, name)`.
    managed: Vec<(String, String)>,
}

/// A step of the way down to the department analysed.
struct Crumb {
    id: String,
    name: String,
    /// Whether the viewer may open it.
    open: bool,
}

#[derive(Template)]
#[template(path = "app/adjust.html")]
struct AdjustPage<'a> {
    t: &'static Texts,
    console: Console,
    csrf: &'a str,
    nonce: &'a str,
    outcome: Option<String>,
}

#[derive(Template)]
#[template(path = "app/notice.html")]
struct NoticePage {
    t: &'static Texts,
    message: String,
}

/// Why a page cannot be shown; never database text.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(
        "the micro-app needs the app key and secret (JIFEN_DINGTALK_APP_KEY, JIFEN_DINGTALK_APP_SECRET)"
    )]
    NotConfigured,
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Asked for someone else's page.
    #[error("{0}")]
    NotYours(&'static str),
    #[error("cannot render the page: {0}")]
    Render(#[from] askama::Error),
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
    month: Option<String>,
    category: Option<String>,
    /// Whose page: only one's own; anyone else's is refused.
    userid: Option<String>,
    /// The board: week (default), month, quarter, year or all.
    window: Option<String>,
    /// company (default) or department (one's own).
    scope: Option<String>,
    /// For analytics: current (default), previous, or a period such as 2026-10.
    period: Option<String>,
    /// For analytics: a department id (default: the organisation, or a manager's first).
    department: Option<String>,
}

impl PageQuery {
    /// The board's window the query names, or `default`.
    fn window(&self, default: Window) -> Result<Window, ApiError> {
        match self.window.as_deref().filter(|w| !w.is_empty()) {
            Some(w) => w.parse().map_err(ApiError::from),
            None => Ok(default),
        }
    }
}

/// Which page.
#[derive(Debug, Clone, Copy)]
enum Page {
    Home,
    History,
    Rank,
    Rules,
    Review,
    Analytics,
    Adjust,
    Rewards,
}

/// The micro-app's routes: a page per path, each rendered by [`page`], and its forms.
pub fn routes() -> Router<AppState> {
    // `GET /app`: the home page of whoever is signed in, or the page that signs them in;
    // `/app/history?month=2026-10&category=attendance`: one's entries of a month;
    // `/app/rank?window=month&scope=department`: a board with one's own place;
    // `/app/rules`: the rules in plain words; `/app/adjust`: awards for managers and HR;
    // `/app/review`: HR's queue; `/app/analytics?window=month&period=previous`: HR's figures.
    let pages = [
        ("/app", Page::Home),
        ("/app/", Page::Home),
        ("/app/history", Page::History),
        ("/app/rank", Page::Rank),
        ("/app/rules", Page::Rules),
        ("/app/adjust", Page::Adjust),
        ("/app/review", Page::Review),
        ("/app/analytics", Page::Analytics),
        ("/app/rewards", Page::Rewards),
    ];
    let mut router = Router::new();
    for (path, which) in pages {
        let show = move |State(state): State<AppState>,
                         headers: HeaderMap,
                         Query(query): Query<PageQuery>| async move {
            page(&state, &headers, &query, which).await
        };
        router = router.route(path, get(show));
    }
    router
        .route("/app/login", post(login))
        .route("/app/review", post(decide))
        .route("/app/adjust", post(adjust))
        .route("/app/rewards", post(rewards::act))
}

async fn page(state: &AppState, headers: &HeaderMap, query: &PageQuery, which: Page) -> Response {
    let (lang, set_lang) = language(headers, query.lang.as_deref());
    let t = Texts::of(lang);
    let mut response = match render(state, headers, query, which, lang, t).await {
        Ok(response) => response,
        Err(e) => notice(t, &e),
    };
    if let Some(cookie) = set_lang {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    no_store(&mut response);
    response
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    query: &PageQuery,
    which: Page,
    lang: Lang,
    t: &'static Texts,
) -> Result<Response, PageError> {
    let app = state.micro_app.as_ref().ok_or(PageError::NotConfigured)?;
    let now = Timestamp::now();
    let me = match signed_in(app, headers, now) {
        Some(userid) => employee(state, &userid).await?,
        None => None,
    };
    let Some(me) = me else {
        // Signed in, the page reloads as itself.
        let page = LoginPage {
            t,
            jsapi_url: &app.jsapi_url,
            corp_id: &app.corp_id,
            client_id: &app.client_id,
        };
        return Ok(Html(page.render()?).into_response());
    };
    if query.userid.as_deref().is_some_and(|u| u != me.userid) {
        return Err(PageError::NotYours(t.not_yours));
    }
    let html = match which {
        Page::Home => {
            let home = home::home(state.store.as_ref(), &state.leaderboard, &me, lang, now).await?;
            HomePage {
                t,
                console: Console::of(app, &me),
                home,
            }
            .render()?
        }
        Page::History => {
            let month = match query.month.as_deref().filter(|m| !m.is_empty()) {
                Some(text) => Month::parse(text).ok_or_else(|| {
                    ApiError::BadRequest(format!("{text:?} is not a month like 2026-10"))
                })?,
                None => Month::of(state.calendar.local_date(now)),
            };
            let history = history::history(
                state.store.as_ref(),
                &app.rules,
                &state.calendar,
                &me.userid,
                history::Filter {
                    month,
                    category: query.category.as_deref().unwrap_or(""),
                },
                lang,
                now,
            )
            .await?;
            HistoryPage {
                t,
                console: Console::of(app, &me),
                history,
            }
            .render()?
        }
        Page::Rank => rank(state, query, &me, t, Console::of(app, &me), now).await?,
        Page::Adjust => {
            let cookie = session_value(headers).unwrap_or_default();
            adjust_html(app, &me, t, &cookie, None)?
        }
        Page::Review => {
            let cookie = session_value(headers).unwrap_or_default();
            review_html(state, app, &me, t, lang, &cookie, None).await?
        }
        Page::Analytics => analytics_html(state, app, query, &me, (lang, t), now).await?,
        Page::Rewards => {
            let cookie = session_value(headers).unwrap_or_default();
            rewards::page(state, app, &me, (lang, t), &cookie, None, now).await?
        }
        Page::Rules => {
            let mut names = std::collections::HashMap::new();
            for id in app.rules.rules.iter().flat_map(|r| &r.departments) {
                if let Some(d) = state.store.department(id).await.map_err(ApiError::from)? {
                    names.insert(id.clone(), d.name);
                }
            }
            let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
            let rules = describe_all(&app.rules, lang, &name);
            RulesPage {
                t,
                console: Console::of(app, &me),
                rules,
            }
            .render()?
        }
    };
    Ok(Html(html).into_response())
}

/// The leaderboard page: the boards `/api/v1/leaderboard` serves, as the person may see them.
async fn rank(
    state: &AppState,
    query: &PageQuery,
    me: &Employee,
    t: &'static Texts,
    console: Console,
    now: Timestamp,
) -> Result<String, PageError> {
    let window = query.window(Window::Week)?;
    let scope = match query.scope.as_deref().unwrap_or("company") {
        "" | "company" => "company",
        "department" => "department",
        other => {
            return Err(ApiError::BadRequest(format!(
                "scope must be company or department, found {other:?}"
            ))
            .into());
        }
    };
    let own = me.departments.first().cloned();
    let board = BoardQuery {
        window,
        period: None,
        department: if scope == "department" {
            own.clone()
        } else {
            None
        },
        limit: 20,
    };
    let standings = state
        .leaderboard
        .people(&board, Some(&me.userid), now)
        .await
        .map_err(ApiError::from)?;
    let department = match own {
        Some(id) => state
            .store
            .department(&id)
            .await
            .map_err(ApiError::from)?
            .map(|d| d.name),
        None => None,
    };
    Ok(RankPage {
        t,
        console,
        standings,
        windows: Window::ALL_WINDOWS,
        window,
        scope,
        department,
        me_userid: &me.userid,
    }
    .render()?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    code: String,
}

/// `POST /app/login` `{"code": …}`: exchanges DingTalk's free-login code for the person and
/// starts their session.
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let refuse = |status: StatusCode, message: &str| {
        (status, Json(json!({ "error": message }))).into_response()
    };
    let Some(app) = state.micro_app.as_ref() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &PageError::NotConfigured.to_string(),
        );
    };
    let code = match body {
        Ok(Json(request)) => request.code,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"code\": \"…\"}}: {}", e.body_text()),
            );
        }
    };
    let code = code.trim();
    if code.is_empty() || code.len() > 256 || code.chars().any(char::is_control) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the login code is empty or malformed",
        );
    }
    let user = match app.client.user_by_login_code(code).await {
        Ok(user) => user,
        Err(e) if e.failure.retry() == Retry::Never => {
            tracing::info!(error = %e, "a micro-app login code was refused");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "登录码无效或已用过，请重新打开页面 (the login code is invalid or was used already; open the page again)",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a micro-app login code with DingTalk");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "DingTalk cannot be reached; try again in a moment",
            );
        }
    };
    match employee(&state, &user.userid).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "你不在积分系统的通讯录中 (you are not in jifen's address book)",
            );
        }
        Err(e) => return e.into_response(),
    }
    let (cookie, _) = app.sessions.issue(&user.userid, Timestamp::now());
    let mut response = Json(json!({ "ok": true })).into_response();
    if let Ok(value) = session_cookie(app, &cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    no_store(&mut response);
    tracing::info!(userid = %user.userid, "signed in to the micro-app");
    response
}

/// The session cookie's value, as sent.
fn session_value(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie_value(cookies, COOKIE).map(str::to_string)
}

/// The signed-in person's userid, if the session cookie is valid now.
fn signed_in(app: &MicroApp, headers: &HeaderMap, now: Timestamp) -> Option<String> {
    let value = session_value(headers)?;
    app.sessions.check(&value, now).ok().map(|s| s.userid)
}

/// The review queue, for HR admins only, with what became of a decision just made.
pub(super) async fn review_html(
    state: &AppState,
    app: &MicroApp,
    me: &Employee,
    t: &'static Texts,
    lang: Lang,
    cookie: &str,
    outcome: Option<String>,
) -> Result<String, PageError> {
    let roles = Roles::of(&me.userid, &app.bot.settings.roles, &me.leads);
    if !roles.hr_admin {
        return Err(PageError::NotYours(t.hr_only));
    }
    let store = state.store.as_ref();
    let items = review::queue(store, state.calendar.time_zone(), lang).await?;
    let redemptions = review::open_redemptions(store, lang).await?;
    let appeals = review::open_appeals(store, lang, Timestamp::now()).await?;
    let csrf = app.sessions.csrf_token(cookie);
    let nonce = format!("{:032x}", rand::random::<u128>());
    Ok(ReviewPage {
        t,
        console: Console::of(app, me),
        items,
        redemptions,
        appeals,
        csrf: &csrf,
        nonce: &nonce,
        outcome,
    }
    .render()?)
}

/// Analytics: HR admins and auditors see any department or the whole organisation with
/// its rules, pipes and exports; a manager sees the departments they manage and those
/// below, and starts at the first of them.
async fn analytics_html(
    state: &AppState,
    app: &MicroApp,
    query: &PageQuery,
    me: &Employee,
    (lang, t): (Lang, &'static Texts),
    now: Timestamp,
) -> Result<String, PageError> {
    let roles = Roles::of(&me.userid, &app.bot.settings.roles, &me.leads);
    let company = roles.hr_admin || roles.auditor;
    if !(company || roles.is_manager()) {
        return Err(PageError::NotYours(t.analysts_only));
    }
    let window = query.window(Window::Month)?;
    let department = match query.department.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(d),
        None if company => None,
        None => roles.manages.first().map(String::as_str),
    };
    // The path from the top down to the department, each step linked if this person may
    // open it.
    let mut path = Vec::new();
    if let Some(department) = department {
        let up = state
            .leaderboard
            .department_path(department)
            .await
            .map_err(ApiError::from)?;
        let ids: Vec<String> = up.iter().map(|(id, _)| id.clone()).collect();
        if !company && !roles.covers(&ids) {
            return Err(PageError::NotYours(t.not_your_department));
        }
        for (i, (id, name)) in up.into_iter().enumerate().rev() {
            let open = company || roles.covers(&ids[i..]);
            path.push(Crumb { id, name, open });
        }
    }
    let sources = analytics::Sources {
        store: state.store.as_ref(),
        boards: &state.leaderboard,
        rules: &app.rules,
        calendar: &state.calendar,
        export: state.export.as_ref(),
    };
    let scope = analytics::Scope {
        window,
        period: query.period.as_deref().filter(|p| !p.is_empty()),
        department,
        company,
    };
    let a = analytics::analytics(sources, scope, lang, now).await?;
    let managed = match company {
        true => Vec::new(),
        false => {
            let mut managed = Vec::new();
            for id in &roles.manages {
                if let Ok(path) = state.leaderboard.department_path(id).await {
                    managed.extend(path.into_iter().next());
                }
            }
            managed
        }
    };
    Ok(AnalyticsPage {
        t,
        console: Console::of(app, me),
        a,
        windows: Window::ALL_WINDOWS,
        company,
        path,
        managed,
    }
    .render()?)
}

/// The award form, for managers and HR admins only, with what became of the last request.
fn adjust_html(
    app: &MicroApp,
    me: &Employee,
    t: &'static Texts,
    cookie: &str,
    outcome: Option<String>,
) -> Result<String, PageError> {
    let roles = Roles::of(&me.userid, &app.bot.settings.roles, &me.leads);
    if !(roles.hr_admin || roles.is_manager()) {
        return Err(PageError::NotYours(t.managers_only));
    }
    // A fresh identity per form: submitting it twice makes the change once.
    let nonce = format!("{:032x}", rand::random::<u128>());
    Ok(AdjustPage {
        t,
        console: Console::of(app, me),
        csrf: &app.sessions.csrf_token(cookie),
        nonce: &nonce,
        outcome,
    }
    .render()?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustForm {
    csrf: String,
    nonce: String,
    /// `adjust` or `revoke`.
    action: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    reason: String,
}

/// `POST /app/adjust` (a form): an award, a deduction or a revocation, as `奖`, `扣` and `撤销`.
pub async fn adjust(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<AdjustForm>, FormRejection>,
) -> Response {
    let (lang, _) = language(&headers, None);
    let t = Texts::of(lang);
    let posted = async {
        let form = Posted::check(&state, &headers, form, |f: &AdjustForm| &f.csrf, t).await?;
        adjust_post(form, lang, t).await
    };
    form_response(t, posted.await)
}

/// A form, checked: posted by a valid session of someone still employed, with that
/// session's CSRF token.
struct Posted<'s, F> {
    app: &'s MicroApp,
    me: Employee,
    cookie: String,
    form: F,
    now: Timestamp,
}

impl<'s, F> Posted<'s, F> {
    async fn check(
        state: &'s AppState,
        headers: &HeaderMap,
        form: Result<axum::Form<F>, FormRejection>,
        csrf: impl Fn(&F) -> &str,
        t: &'static Texts,
    ) -> Result<Posted<'s, F>, PageError> {
        let app = state.micro_app.as_deref().ok_or(PageError::NotConfigured)?;
        let now = Timestamp::now();
        let (me, cookie) = posted_by(state, app, headers, now, t).await?;
        let axum::Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        if !app.sessions.csrf_ok(&cookie, csrf(&form)) {
            return Err(PageError::NotYours(t.stale_form));
        }
        Ok(Posted {
            app,
            me,
            cookie,
            form,
            now,
        })
    }
}

/// The page a form's handling rendered, or what went wrong; never cached.
fn form_response(t: &'static Texts, result: Result<String, PageError>) -> Response {
    let mut response = match result {
        Ok(html) => Html(html).into_response(),
        Err(e) => notice(t, &e),
    };
    no_store(&mut response);
    response
}

async fn adjust_post(
    Posted {
        app,
        me,
        cookie,
        form,
        now,
    }: Posted<'_, AdjustForm>,
    lang: Lang,
    t: &'static Texts,
) -> Result<String, PageError> {
    let number = |what: &str, text: &str| {
        crate::bot::command::whole_number(text.trim()).ok_or_else(|| {
            ApiError::BadRequest(format!("{what} must be a whole number, found {text:?}"))
        })
    };
    let change = match form.action.as_str() {
        "adjust" => {
            let points = number("points", &form.points)?;
            if !(1..=MAX_POINTS).contains(&points.saturating_abs()) {
                return Err(ApiError::BadRequest(format!(
                    "points must be 1 to {MAX_POINTS}, or -1 to -{MAX_POINTS} to deduct"
                ))
                .into());
            }
            Change::Adjust {
                who: form.who.trim().to_string(),
                points,
                reason: form.reason.trim().to_string(),
            }
        }
        "revoke" => Change::Revoke {
            entry: number("entry", &form.entry)?,
            reason: form.reason.trim().to_string(),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "action must be adjust or revoke, found {other:?}"
            ))
            .into());
        }
    };
    let outcome = act_on_form(app, &me, change, &form.nonce, "", lang, now).await?;
    adjust_html(app, &me, t, &cookie, Some(outcome))
}

/// Makes a form's change as the robot would (`Bot::act`) and says what became of it. The
/// request is `app:<nonce><form>`: the same form sent twice makes its change once.
async fn act_on_form(
    app: &MicroApp,
    me: &Employee,
    change: Change,
    nonce: &str,
    form: &str,
    lang: Lang,
    now: Timestamp,
) -> Result<String, PageError> {
    let nonce = nonce.trim();
    if nonce.is_empty() || nonce.len() > 64 || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest("the form's nonce is malformed".into()).into());
    }
    let source = format!("app:{nonce}{form}");
    match app
        .bot
        .act(&me.userid, change, &source, lang, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
    {
        Acted::Done(answer) | Acted::Refused(answer) => Ok(answer),
    }
}

/// Who posted a form: a valid session of someone still employed, and its cookie.
async fn posted_by(
    state: &AppState,
    app: &MicroApp,
    headers: &HeaderMap,
    now: Timestamp,
    t: &'static Texts,
) -> Result<(Employee, String), PageError> {
    let cookie = session_value(headers).unwrap_or_default();
    let me = match app.sessions.check(&cookie, now) {
        Ok(session) => employee(state, &session.userid).await?,
        Err(_) => None,
    };
    me.map(|me| (me, cookie))
        .ok_or(PageError::NotYours(t.stale_form))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    csrf: String,
    entry: i64,
    decision: String,
    #[serde(default)]
    reason: String,
}

/// `POST /app/review` (a form): approves or rejects one entry, as `批准` / `驳回` would.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<Decision>, FormRejection>,
) -> Response {
    let (lang, _) = language(&headers, None);
    let t = Texts::of(lang);
    let posted = async {
        let form = Posted::check(&state, &headers, form, |f: &Decision| &f.csrf, t).await?;
        decide_html(&state, form, lang, t).await
    };
    form_response(t, posted.await)
}

async fn decide_html(
    state: &AppState,
    Posted {
        app,
        me,
        cookie,
        form,
        now,
    }: Posted<'_, Decision>,
    lang: Lang,
    t: &'static Texts,
) -> Result<String, PageError> {
    let change = match form.decision.as_str() {
        "approve" => Change::Approve { entry: form.entry },
        "reject" => Change::Reject {
            entry: form.entry,
            reason: form.reason.trim().to_string(),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "decision must be approve or reject, found {other:?}"
            ))
            .into());
        }
    };
    let source = format!("app:{}:{}:{}", me.userid, form.entry, form.decision);
    let outcome = match app
        .bot
        .act(&me.userid, change, &source, lang, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
    {
        Acted::Done(answer) | Acted::Refused(answer) => answer,
    };
    review_html(state, app, &me, t, lang, &cookie, Some(outcome)).await
}

/// The person, if jifen knows them and they still work here.
async fn employee(state: &AppState, userid: &str) -> Result<Option<Employee>, ApiError> {
    Ok(state
        .store
        .employee(userid)
        .await?
        .filter(|e| e.left_at.is_none()))
}

fn session_cookie(app: &MicroApp, value: &str) -> Result<HeaderValue, header::InvalidHeaderValue> {
    let secure = if app.secure_cookie { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/app; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        app.sessions.ttl().as_secs()
    ))
}

/// The page's language, and the cookie that keeps a new choice.
fn language(headers: &HeaderMap, asked: Option<&str>) -> (Lang, Option<HeaderValue>) {
    let parse = |s: &str| match s {
        "en" => Some(Lang::En),
        "zh" => Some(Lang::Zh),
        _ => None,
    };
    if let Some(lang) = asked.and_then(parse) {
        let name = if lang == Lang::En { "en" } else { "zh" };
        let cookie = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={name}; Path=/app; Max-Age=31536000; SameSite=Lax"
        ))
        .ok();
        return (lang, cookie);
    }
    let kept = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookie_value(c, LANG_COOKIE))
        .and_then(parse);
    (kept.unwrap_or(Lang::Zh), None)
}

/// A page saying what went wrong, with its status.
fn notice(t: &'static Texts, error: &PageError) -> Response {
    let status = match error {
        PageError::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
        PageError::NotYours(_) => StatusCode::FORBIDDEN,
        PageError::Api(e) => e.status(),
        PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match error {
        PageError::Api(ApiError::Store(e)) => {
            tracing::error!(error = %e, "a page failed on the database");
            "暂时无法读取积分，请稍后再试 (points cannot be read just now; try again shortly)"
                .to_string()
        }
        PageError::Render(e) => {
            tracing::error!(error = %e, "a page failed to render");
            "页面出错了 (the page failed)".to_string()
        }
        other => other.to_string(),
    };
    let body = NoticePage { t, message }
        .render()
        .unwrap_or_else(|_| "jifen".into());
    (status, Html(body)).into_response()
}

/// Pages show one person's points: no cache may keep them.
fn no_store(response: &mut Response) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
}
