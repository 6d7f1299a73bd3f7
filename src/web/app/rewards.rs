//! The rewards page: one's balance, level and badges; one's teams' challenges with their
//! meters; what is on offer, with a button to redeem; one's redemptions (cancel one not yet handed over) and appeals, and a form to
//! appeal a deduction. Its forms make the same changes as the robot's commands, through
//! [`crate::bot::Bot::act`], so the page and the chat cannot drift apart.

use askama::Template;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;

use super::{Console, MicroApp, PageError, Posted, Texts, form_response, language};
use crate::bot::command::Change;
use crate::domain::{Appeal, Employee, Lang, PeriodKind, Redemption, RedemptionStep, Verdict};
use crate::rules::scope_allows;
use crate::web::{ApiError, AppState};

/// One reward as the page lists it.
struct Offer {
    id: String,
    name: String,
    description: String,
    cost: i64,
    /// How many are left, as shown; empty without a stock.
    left: String,
    affordable: bool,
}

struct Mine {
    id: i64,
    reward: String,
    cost: i64,
    status: String,
    note: String,
    cancellable: bool,
}

struct Filed {
    id: i64,
    entry: i64,
    reason: String,
    status: String,
    note: String,
}

#[derive(Template)]
#[template(path = "app/rewards.html")]
struct RewardsPage<'a> {
    t: &'static Texts,
    console: Console,
    csrf: &'a str,
    nonce: &'a str,
    outcome: Option<String>,
    balance: i64,
    level: String,
    badges: Vec<String>,
    offers: Vec<Offer>,
    mine: Vec<Mine>,
    appeals: Vec<Filed>,
    /// The team challenges of one's departments, each as its meter line.
    challenges: Vec<String>,
}

pub(super) async fn page(
    state: &AppState,
    app: &MicroApp,
    me: &Employee,
    (lang, t): (Lang, &'static Texts),
    cookie: &str,
    outcome: Option<String>,
    now: Timestamp,
) -> Result<String, PageError> {
    let store = state.store.as_ref();
    let bot = &app.bot;
    let totals = store
        .account(&me.userid)
        .await
        .map_err(ApiError::from)?
        .map(|a| a.totals)
        .unwrap_or_default();
    let book = &bot.badging.book;
    let level = book
        .level_of(totals.score)
        .map(|s| {
            let name = |l: &crate::domain::Level| match lang {
                Lang::Zh => l.name.clone(),
                Lang::En => l.name_en.clone(),
            };
            match s.next {
                Some((next, to_go)) => format!("{} → {} (+{to_go})", name(s.level), name(next)),
                None => name(s.level),
            }
        })
        .unwrap_or_default();
    let held = store.badges_of(&me.userid).await.map_err(ApiError::from)?;
    let badges = held
        .iter()
        .filter_map(|g| book.get(&g.badge_id))
        .map(|b| match lang {
            Lang::Zh => b.name.clone(),
            Lang::En => b.name_en.clone(),
        })
        .collect();
    let out = store.rewards_out().await.map_err(ApiError::from)?;
    let departments = store
        .departments_with_ancestors(&me.userid)
        .await
        .map_err(ApiError::from)?;
    let today = state.calendar.local_date(now);
    let offers = bot
        .catalogue
        .rewards
        .iter()
        .filter(|r| r.available_on(today) && scope_allows(&r.departments, &departments))
        .map(|r| Offer {
            id: r.id.clone(),
            name: r.name(lang).to_string(),
            description: r.description.clone(),
            cost: r.cost,
            left: r
                .left(out.get(&r.id).copied().unwrap_or(0))
                .map(|n| n.to_string())
                .unwrap_or_default(),
            affordable: totals.balance >= r.cost,
        })
        .collect();
    let redemptions = store
        .redemptions(Some(&me.userid), None, 20)
        .await
        .map_err(ApiError::from)?;
    let mine = redemptions.iter().map(|r| mine(r, lang)).collect();
    let appeals = store
        .appeals(Some(&me.userid), None, 20)
        .await
        .map_err(ApiError::from)?;
    let appeals = appeals.iter().map(|a| filed(a, lang)).collect();
    let mut challenges = Vec::new();
    for c in book
        .challenges
        .iter()
        .filter(|c| departments.contains(&c.department))
    {
        let period = state
            .calendar
            .period_of(PeriodKind::Month, c.month.first_day())
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let progress = store
            .team_points(&c.department, &c.category, period.start, period.end)
            .await
            .map_err(ApiError::from)?;
        let department = store
            .department(&c.department)
            .await
            .map_err(ApiError::from)?
            .map_or_else(|| c.department.clone(), |d| d.name);
        let line = crate::bot::text::badges::challenge_line(lang, book, c, &department, progress);
        challenges.push(line.trim_start_matches("- ").to_string());
    }
    // A fresh identity per form: submitting it twice makes the change once.
    let nonce = format!("{:032x}", rand::random::<u128>());
    Ok(RewardsPage {
        t,
        console: Console::of(app, me),
        csrf: &app.sessions.csrf_token(cookie),
        nonce: &nonce,
        outcome,
        balance: totals.balance,
        level,
        badges,
        offers,
        mine,
        appeals,
        challenges,
    }
    .render()?)
}

fn mine(r: &Redemption, lang: Lang) -> Mine {
    Mine {
        id: r.id,
        reward: match lang {
            Lang::Zh => r.reward_name.clone(),
            Lang::En => r.reward_name_en.clone(),
        },
        cost: r.cost,
        status: match lang {
            Lang::Zh => r.status.zh().to_string(),
            Lang::En => r.status.as_str().to_string(),
        },
        note: r.note.clone().unwrap_or_default(),
        cancellable: RedemptionStep::Cancel.from(r.status).is_some(),
    }
}

fn filed(a: &Appeal, lang: Lang) -> Filed {
    Filed {
        id: a.id,
        entry: a.entry_id,
        reason: a.reason.clone(),
        status: match lang {
            Lang::Zh => a.status.zh().to_string(),
            Lang::En => a.status.as_str().to_string(),
        },
        note: a.decision_note.clone().unwrap_or_default(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardsForm {
    csrf: String,
    nonce: String,
    /// The person's `redeem`, `cancel` or `appeal`; HR's `grant`, `fulfil`, `refuse`,
    /// `uphold` or `dismiss` (from the review page).
    action: String,
    #[serde(default)]
    reward: String,
    #[serde(default)]
    redemption: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    appeal: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
}

/// `POST /app/rewards` (a form): redeems, cancels or appeals, or (HR) decides a redemption
/// or an appeal, as the robot's commands would.
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<RewardsForm>, FormRejection>,
) -> Response {
    let (lang, _) = language(&headers, None);
    let t = Texts::of(lang);
    let posted = async {
        let form = Posted::check(&state, &headers, form, |f: &RewardsForm| &f.csrf, t).await?;
        act_html(&state, form, lang, t).await
    };
    form_response(t, posted.await)
}

async fn act_html(
    state: &AppState,
    Posted {
        app,
        me,
        cookie,
        form,
        now,
    }: Posted<'_, RewardsForm>,
    lang: Lang,
    t: &'static Texts,
) -> Result<String, PageError> {
    let number = |what: &str, text: &str| {
        crate::bot::command::whole_number(text.trim())
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::BadRequest(format!("{what} must be a number, found {text:?}")))
    };
    let change = match form.action.as_str() {
        "redeem" => Change::Redeem {
            reward: form.reward.trim().to_string(),
        },
        "cancel" => Change::Redemption {
            id: number("redemption", &form.redemption)?,
            step: RedemptionStep::Cancel,
            note: String::new(),
        },
        "appeal" => Change::Appeal {
            entry: number("entry", &form.entry)?,
            reason: form.reason.trim().to_string(),
        },
        step @ ("grant" | "fulfil" | "refuse") => Change::Redemption {
            id: number("redemption", &form.redemption)?,
            step: match step {
                "grant" => RedemptionStep::Approve,
                "fulfil" => RedemptionStep::Fulfil,
                _ => RedemptionStep::Reject,
            },
            note: form.reason.trim().to_string(),
        },
        decision @ ("uphold" | "dismiss") => Change::Decide {
            appeal: number("appeal", &form.appeal)?,
            verdict: match decision {
                "uphold" => Verdict::Uphold {
                    points: match form.points.trim() {
                        "" => None,
                        text => Some(number("points", text)?),
                    },
                },
                _ => Verdict::Reject,
            },
            note: form.reason.trim().to_string(),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "action must be redeem, cancel, appeal, grant, fulfil, refuse, uphold or dismiss, found {other:?}"
            ))
            .into());
        }
    };
    // One page's forms share a nonce: the source names the form too, so a second reward
    // redeemed from the same page is a new request, and the same form sent twice is not.
    let target = match form.action.as_str() {
        "redeem" => form.reward.trim(),
        "appeal" => form.entry.trim(),
        "uphold" | "dismiss" => form.appeal.trim(),
        _ => form.redemption.trim(),
    };
    let which = format!(":{}:{target}", form.action);
    let outcome = super::act_on_form(app, &me, change, &form.nonce, &which, lang, now).await?;
    if matches!(form.action.as_str(), "redeem" | "cancel" | "appeal") {
        page(state, app, &me, (lang, t), &cookie, Some(outcome), now).await
    } else {
        super::review_html(state, app, &me, t, lang, &cookie, Some(outcome)).await
    }
}
