//! Bot commands, Chinese and English, parsed from what was typed. People come from the
//! message's `atUsers`, never from the text (a name in the text can be anyone's). Pure: a
//! wrong command gets a [`Usage`] naming the problem; `text::usage` says it in words.

use crate::domain::{Month, RedemptionStep, Verdict};

pub use crate::domain::Lang;
pub use crate::leaderboard::Window;

/// A command: a question, answered from what is stored, or a change, made in one
/// transaction with its audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ask(Question),
    Do(Change),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    Points,
    Rank {
        window: Window,
        department: bool,
    },
    History {
        month: Option<Month>,
    },
    Rules,
    Help,
    Audit {
        who: Option<String>,
    },
    /// The rewards catalogue, with what is left and what the sender can afford.
    Rewards,
    /// The sender's redemptions; for HR, also those waiting for them.
    Redemptions,
    /// The sender's appeals; for HR, also the open ones, oldest first, with their age.
    Appeals,
    /// Every badge, marking the sender's.
    Badges,
    /// The team challenges, each with its meter.
    Challenges,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An award (points > 0) or a deduction (points < 0) for one mentioned person.
    Adjust {
        who: String,
        points: i64,
        reason: String,
    },
    Revoke {
        entry: i64,
        reason: String,
    },
    Approve {
        entry: i64,
    },
    Reject {
        entry: i64,
        reason: String,
    },
    Budget {
        who: String,
        points: i64,
    },
    Export {
        month: Month,
    },
    /// Spends balance points on a reward of the catalogue.
    Redeem {
        reward: String,
    },
    /// A step of a redemption: the person cancels; HR approves, fulfils or rejects.
    Redemption {
        id: i64,
        step: RedemptionStep,
        /// The reason of a rejection, or how it was handed over.
        note: String,
    },
    /// The sender appeals one of their own deductions.
    Appeal {
        entry: i64,
        reason: String,
    },
    /// HR decides an appeal.
    Decide {
        appeal: i64,
        verdict: Verdict,
        note: String,
    },
    /// The sender thanks one mentioned colleague with points from their allowance.
    Recognise {
        who: String,
        points: i64,
        reason: String,
    },
    /// HR grants a `manual` badge to one mentioned person.
    GrantBadge {
        who: String,
        badge: String,
        reason: String,
    },
}

impl From<Question> for Command {
    fn from(q: Question) -> Command {
        Command::Ask(q)
    }
}

impl From<Change> for Command {
    fn from(c: Change) -> Command {
        Command::Do(c)
    }
}

/// Which command a usage message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Points,
    Rank,
    History,
    Rules,
    Help,
    Award,
    Deduct,
    Revoke,
    Approve,
    Reject,
    Budget,
    Export,
    Audit,
    Rewards,
    Redemptions,
    Redeem,
    Cancel,
    Grant,
    Fulfil,
    Refuse,
    Appeals,
    Appeal,
    Uphold,
    Dismiss,
    Badges,
    GrantBadge,
    Recognise,
    Challenges,
}

/// Words that start each command. Longer words first, so 扣分 wins over 扣.
const WORDS: &[(&str, Kind)] = &[
    ("我的积分", Kind::Points),
    ("积分", Kind::Points),
    ("points", Kind::Points),
    ("score", Kind::Points),
    ("排行榜", Kind::Rank),
    ("排行", Kind::Rank),
    ("排名", Kind::Rank),
    ("rank", Kind::Rank),
    ("leaderboard", Kind::Rank),
    ("明细", Kind::History),
    ("history", Kind::History),
    ("规则", Kind::Rules),
    ("rules", Kind::Rules),
    ("帮助", Kind::Help),
    ("help", Kind::Help),
    ("?", Kind::Help),
    ("？", Kind::Help),
    ("奖品", Kind::Rewards),
    ("奖励", Kind::Award),
    ("奖", Kind::Award),
    ("加", Kind::Award),
    ("award", Kind::Award),
    ("扣分", Kind::Deduct),
    ("扣", Kind::Deduct),
    ("减", Kind::Deduct),
    ("deduct", Kind::Deduct),
    ("撤销", Kind::Revoke),
    ("revoke", Kind::Revoke),
    ("批准", Kind::Approve),
    ("approve", Kind::Approve),
    ("驳回", Kind::Reject),
    ("reject", Kind::Reject),
    ("预算", Kind::Budget),
    ("budget", Kind::Budget),
    ("导出", Kind::Export),
    ("export", Kind::Export),
    ("审计", Kind::Audit),
    ("audit", Kind::Audit),
    ("商城", Kind::Rewards),
    ("rewards", Kind::Rewards),
    ("shop", Kind::Rewards),
    ("兑换记录", Kind::Redemptions),
    ("我的兑换", Kind::Redemptions),
    ("redemptions", Kind::Redemptions),
    ("兑换", Kind::Redeem),
    ("redeem", Kind::Redeem),
    ("取消兑换", Kind::Cancel),
    ("cancel", Kind::Cancel),
    ("同意兑换", Kind::Grant),
    ("grant", Kind::Grant),
    ("发放", Kind::Fulfil),
    ("fulfil", Kind::Fulfil),
    ("fulfill", Kind::Fulfil),
    ("拒绝兑换", Kind::Refuse),
    ("refuse", Kind::Refuse),
    ("申诉列表", Kind::Appeals),
    ("申诉记录", Kind::Appeals),
    ("appeals", Kind::Appeals),
    ("申诉成立", Kind::Uphold),
    ("uphold", Kind::Uphold),
    ("申诉驳回", Kind::Dismiss),
    ("dismiss", Kind::Dismiss),
    ("申诉", Kind::Appeal),
    ("appeal", Kind::Appeal),
    ("点赞", Kind::Recognise),
    ("赞", Kind::Recognise),
    ("thanks", Kind::Recognise),
    ("kudos", Kind::Recognise),
    ("团队挑战", Kind::Challenges),
    ("挑战", Kind::Challenges),
    ("challenges", Kind::Challenges),
    ("徽章", Kind::Badges),
    ("badges", Kind::Badges),
    ("颁发", Kind::GrantBadge),
    ("badge", Kind::GrantBadge),
];

/// Largest number of points one command may move; more is surely a typo.
pub const MAX_POINTS: i64 = 100_000;

pub use crate::domain::MAX_REASON_CHARS;

/// Why a command was not understood, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub kind: Option<Kind>,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Empty,
    Unknown(String),
    NoPerson,
    SeveralPeople,
    NoAmount,
    BadAmount(String),
    NoReason,
    /// Longer than [`MAX_REASON_CHARS`].
    LongReason,
    NoEntry,
    BadEntry(String),
    NoMonth,
    BadMonth(String),
    NoReward,
    NoRedemption,
    BadRedemption(String),
    NoAppeal,
    BadAppeal(String),
    NoBadge,
    Unexpected(String),
}

pub fn parse(text: &str, mentioned: &[String]) -> Result<Command, Usage> {
    let text = without_mentions(&text.replace('：', ":"));
    let (kind, rest) = command_word(&text)?;
    let args = Args {
        kind,
        rest: rest.trim(),
        mentioned,
    };
    match kind {
        Kind::Points => args
            .nothing_more(args.rest)
            .map(|_| Question::Points.into()),
        Kind::Rules => args.nothing_more(args.rest).map(|_| Question::Rules.into()),
        Kind::Help => Ok(Question::Help.into()),
        Kind::Rank => rank(args).map(Into::into),
        Kind::History => history(args).map(Into::into),
        Kind::Audit => audit(args).map(Into::into),
        Kind::Award | Kind::Deduct => adjust(args).map(Into::into),
        Kind::Budget => budget(args).map(Into::into),
        Kind::Revoke | Kind::Reject => revoke_or_reject(args).map(Into::into),
        Kind::Approve => approve(args).map(Into::into),
        Kind::Export => export(args).map(Into::into),
        Kind::Rewards => args
            .nothing_more(args.rest)
            .map(|_| Question::Rewards.into()),
        Kind::Redemptions => args
            .nothing_more(args.rest)
            .map(|_| Question::Redemptions.into()),
        Kind::Redeem => redeem(args).map(Into::into),
        Kind::Cancel | Kind::Grant | Kind::Fulfil | Kind::Refuse => {
            redemption_step(args).map(Into::into)
        }
        Kind::Appeals => args
            .nothing_more(args.rest)
            .map(|_| Question::Appeals.into()),
        Kind::Appeal => appeal(args).map(Into::into),
        Kind::Uphold | Kind::Dismiss => decide(args).map(Into::into),
        Kind::Badges => args
            .nothing_more(args.rest)
            .map(|_| Question::Badges.into()),
        Kind::GrantBadge => grant_badge(args).map(Into::into),
        Kind::Recognise => recognise(args).map(Into::into),
        Kind::Challenges => args
            .nothing_more(args.rest)
            .map(|_| Question::Challenges.into()),
    }
}

/// The command a text starts with, and what follows it.
fn command_word(text: &str) -> Result<(Kind, &str), Usage> {
    let text = text.trim();
    // "给 @李强 加50积分" reads "to 李强, add 50 points".
    let text = text.strip_prefix('给').unwrap_or(text).trim_start();
    if text.is_empty() {
        return Err(Usage {
            kind: None,
            problem: Problem::Empty,
        });
    }
    let found = WORDS.iter().find_map(|(word, kind)| {
        let rest = strip_word(text, word)?;
        // An English word must end; a Chinese one may run into its amount (加50积分).
        let ends = rest
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || !word.is_ascii() || c.is_ascii_digit());
        ends.then_some((*kind, rest))
    });
    found.ok_or_else(|| {
        let first = text.split_whitespace().next().unwrap_or(text);
        Usage {
            kind: None,
            problem: Problem::Unknown(first.chars().take(20).collect()),
        }
    })
}

/// What follows a command word, and the people mentioned with it.
#[derive(Clone, Copy)]
struct Args<'a> {
    kind: Kind,
    rest: &'a str,
    mentioned: &'a [String],
}

impl Args<'_> {
    fn usage(&self, problem: Problem) -> Usage {
        Usage {
            kind: Some(self.kind),
            problem,
        }
    }

    fn only_one(&self) -> Result<String, Usage> {
        match self.mentioned {
            [] => Err(self.usage(Problem::NoPerson)),
            [one] => Ok(one.clone()),
            _ => Err(self.usage(Problem::SeveralPeople)),
        }
    }

    fn nothing_more(&self, rest: &str) -> Result<(), Usage> {
        match rest {
            "" => Ok(()),
            extra => Err(self.usage(Problem::Unexpected(extra.chars().take(20).collect()))),
        }
    }

    fn month(&self, text: &str) -> Result<Month, Usage> {
        Month::parse(text).ok_or_else(|| self.usage(Problem::BadMonth(text.into())))
    }
}

fn rank(args: Args<'_>) -> Result<Question, Usage> {
    let (mut window, mut department) = (Window::Month, false);
    for word in args.rest.split_whitespace() {
        match window_word(word) {
            Some(w) => window = w,
            None if matches!(
                word.to_lowercase().as_str(),
                "部门" | "本部门" | "dept" | "department"
            ) =>
            {
                department = true
            }
            None => return Err(args.usage(Problem::Unexpected(word.into()))),
        }
    }
    Ok(Question::Rank { window, department })
}

fn history(args: Args<'_>) -> Result<Question, Usage> {
    match args.rest {
        "" => Ok(Question::History { month: None }),
        month => args
            .month(month)
            .map(|m| Question::History { month: Some(m) }),
    }
}

fn audit(args: Args<'_>) -> Result<Question, Usage> {
    match args.mentioned {
        [] => Ok(Question::Audit { who: None }),
        [one] => Ok(Question::Audit {
            who: Some(one.clone()),
        }),
        _ => Err(args.usage(Problem::SeveralPeople)),
    }
}

fn adjust(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let who = args.only_one()?;
    let (points, reason) = amount_then_rest(args.rest).map_err(usage)?;
    let reason = reason_of(reason).map_err(usage)?;
    let points = if args.kind == Kind::Deduct {
        -points
    } else {
        points
    };
    Ok(Change::Adjust {
        who,
        points,
        reason,
    })
}

fn budget(args: Args<'_>) -> Result<Change, Usage> {
    let who = args.only_one()?;
    let (points, rest) = amount_then_rest(args.rest).map_err(|p| args.usage(p))?;
    args.nothing_more(rest)?;
    Ok(Change::Budget { who, points })
}

fn revoke_or_reject(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let (entry, reason) = entry_then_rest(args.rest).map_err(usage)?;
    let reason = reason_of(reason).map_err(usage)?;
    Ok(if args.kind == Kind::Revoke {
        Change::Revoke { entry, reason }
    } else {
        Change::Reject { entry, reason }
    })
}

fn approve(args: Args<'_>) -> Result<Change, Usage> {
    let (entry, rest) = entry_then_rest(args.rest).map_err(|p| args.usage(p))?;
    args.nothing_more(rest)?;
    Ok(Change::Approve { entry })
}

fn export(args: Args<'_>) -> Result<Change, Usage> {
    match args.rest {
        "" => Err(args.usage(Problem::NoMonth)),
        month => args.month(month).map(|month| Change::Export { month }),
    }
}

fn redeem(args: Args<'_>) -> Result<Change, Usage> {
    let mut words = args.rest.split_whitespace();
    let reward = words.next().ok_or_else(|| args.usage(Problem::NoReward))?;
    args.nothing_more(words.next().unwrap_or(""))?;
    Ok(Change::Redeem {
        reward: reward.to_string(),
    })
}

fn redemption_step(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let (id, rest) = entry_then_rest(args.rest).map_err(|p| {
        usage(match p {
            Problem::BadEntry(word) => Problem::BadRedemption(word),
            _ => Problem::NoRedemption,
        })
    })?;
    let (step, note) = match args.kind {
        Kind::Cancel => (
            RedemptionStep::Cancel,
            args.nothing_more(rest).map(|_| String::new())?,
        ),
        Kind::Grant => (
            RedemptionStep::Approve,
            args.nothing_more(rest).map(|_| String::new())?,
        ),
        Kind::Fulfil if rest.is_empty() => (RedemptionStep::Fulfil, String::new()),
        Kind::Fulfil => (RedemptionStep::Fulfil, reason_of(rest).map_err(usage)?),
        _ => (RedemptionStep::Reject, reason_of(rest).map_err(usage)?),
    };
    Ok(Change::Redemption { id, step, note })
}

/// `赞 @某人 2 谢谢帮忙`.
fn recognise(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let who = args.only_one()?;
    let (points, reason) = amount_then_rest(args.rest).map_err(usage)?;
    let reason = reason_of(reason).map_err(usage)?;
    Ok(Change::Recognise {
        who,
        points,
        reason,
    })
}

/// `颁发 @某人 徽章编号 理由`.
fn grant_badge(args: Args<'_>) -> Result<Change, Usage> {
    let who = args.only_one()?;
    let rest = args.rest.trim_start();
    let (badge, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if badge.is_empty() {
        return Err(args.usage(Problem::NoBadge));
    }
    let reason = reason_of(reason).map_err(|p| args.usage(p))?;
    Ok(Change::GrantBadge {
        who,
        badge: badge.to_string(),
        reason,
    })
}

fn appeal(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let (entry, reason) = entry_then_rest(args.rest).map_err(usage)?;
    let reason = reason_of(reason).map_err(usage)?;
    Ok(Change::Appeal { entry, reason })
}

/// `申诉成立 3 [积分] [说明]` or `申诉驳回 3 理由`.
fn decide(args: Args<'_>) -> Result<Change, Usage> {
    let usage = |problem| args.usage(problem);
    let (appeal, rest) = entry_then_rest(args.rest).map_err(|p| {
        usage(match p {
            Problem::BadEntry(word) => Problem::BadAppeal(word),
            _ => Problem::NoAppeal,
        })
    })?;
    if args.kind == Kind::Dismiss {
        let note = reason_of(rest).map_err(usage)?;
        return Ok(Change::Decide {
            appeal,
            verdict: Verdict::Reject,
            note,
        });
    }
    // An amount, if one comes first, is how much of the deduction to give back.
    let (points, rest) = match rest.split_whitespace().next().and_then(whole_number_word) {
        Some(_) => amount_then_rest(rest)
            .map(|(points, rest)| (Some(points), rest))
            .map_err(usage)?,
        None => (None, rest),
    };
    let note = match rest.trim() {
        "" => String::new(),
        text => reason_of(text).map_err(usage)?,
    };
    Ok(Change::Decide {
        appeal,
        verdict: Verdict::Uphold { points },
        note,
    })
}

/// Whether a word is an amount (`3`, `+3`, `3分`, `3积分`) rather than the start of a note.
fn whole_number_word(word: &str) -> Option<()> {
    let digits = word.trim_start_matches('+');
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    (end > 0 && ["", "分", "积分", "pts", "points", "point"].contains(&&digits[end..]))
        .then_some(())
}

/// Drops `@name` mentions: the people come from atUsers. DingTalk ends a mention with a
/// space (often U+2005), which `char::is_whitespace` covers.
fn without_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_mention = false;
    for c in text.chars() {
        if c == '@' || c == '＠' {
            in_mention = true;
            out.push(' ');
        } else if in_mention && c.is_whitespace() {
            in_mention = false;
            out.push(' ');
        } else if !in_mention {
            out.push(c);
        }
    }
    out
}

fn window_word(word: &str) -> Option<Window> {
    Some(match word.to_lowercase().as_str() {
        "本周" | "周" | "week" => Window::Week,
        "本月" | "月" | "month" => Window::Month,
        "本季" | "本季度" | "季度" | "quarter" => Window::Quarter,
        "本年" | "今年" | "年" | "year" => Window::Year,
        "总" | "总榜" | "全部" | "all" => Window::All,
        _ => return None,
    })
}

/// A whole number in plain digits with an optional sign (`-3`, `+5`, `12`); `5,000`, `5.5`
/// and `1e3` are not one. For the award form, which has no 奖 or 扣 to give the sign.
pub fn whole_number(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

/// `5`, `+5`, `5分`, `50积分` or `5 points`, then whatever follows. Only a whole number in
/// plain digits is an amount: `5,000`, `5.5` and `1e3` are refused, not read as 5, 5 and 1.
fn amount_then_rest(rest: &str) -> Result<(i64, &str), Problem> {
    let rest = rest.trim_start();
    let Some(word) = rest.split_whitespace().next() else {
        return Err(Problem::NoAmount);
    };
    let bad = || Problem::BadAmount(word.chars().take(20).collect());
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '+' || *c == '-'))
        .map_or(rest.len(), |(i, _)| i);
    let (number, after) = rest.split_at(end);
    if number.is_empty() {
        return Err(bad());
    }
    // The amount ends at a space, at the end, or at a unit written against it (5分).
    let joined_unit = unit_then_rest(after);
    if joined_unit.is_none() && !after.is_empty() && !after.starts_with(char::is_whitespace) {
        return Err(bad());
    }
    let points: i64 = number
        .strip_prefix('+')
        .unwrap_or(number)
        .parse()
        .ok()
        .filter(|p| (1..=MAX_POINTS).contains(p))
        .ok_or_else(|| Problem::BadAmount(number.into()))?;
    let after = joined_unit.unwrap_or(after).trim_start();
    let after = unit_then_rest(after).unwrap_or(after);
    Ok((points, after.trim_start()))
}

/// What follows a unit of points at the start of `text`, if one is there. A Chinese unit may
/// run into the reason (5分加班); an English one must end.
fn unit_then_rest(text: &str) -> Option<&str> {
    ["积分", "分", "points", "point", "pts"]
        .into_iter()
        .find_map(|unit| {
            strip_word(text, unit).filter(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || !unit.is_ascii())
            })
        })
}

/// `text` without a leading `word`, ignoring ASCII case. (Lowercasing the whole text could
/// change its length, and an offset taken from it could then split a character.)
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &text[word.len()..])
}

/// `12`, `#12` or `第12条`, then whatever follows.
fn entry_then_rest(rest: &str) -> Result<(i64, &str), Problem> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Err(Problem::NoEntry);
    }
    let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let digits = word
        .trim_start_matches(['#', '＃', '第'])
        .trim_end_matches(['条', '号']);
    let entry = digits
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0)
        .ok_or_else(|| Problem::BadEntry(word.chars().take(20).collect()))?;
    Ok((entry, after.trim_start()))
}

/// A reason, without a leading "理由:" or "reason:"; at most [`MAX_REASON_CHARS`].
fn reason_of(text: &str) -> Result<String, Problem> {
    let text = text.trim();
    let text = ["理由:", "原因:", "reason:", "because"]
        .into_iter()
        .find_map(|prefix| strip_word(text, prefix))
        .unwrap_or(text)
        .trim();
    match text.chars().count() {
        0 => Err(Problem::NoReason),
        n if n > MAX_REASON_CHARS => Err(Problem::LongReason),
        _ => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn adjust(who: &str, points: i64, reason: &str) -> Command {
        Command::Do(Change::Adjust {
            who: who.into(),
            points,
            reason: reason.into(),
        })
    }

    fn month(year: i16, month: i8) -> Month {
        Month::new(year, month).unwrap()
    }

    type Case = (&'static str, &'static [&'static str], Command);

    fn question_cases() -> Vec<Case> {
        vec![
            ("积分", &[], Command::Ask(Question::Points)),
            ("我的积分", &[], Command::Ask(Question::Points)),
            ("  POINTS ", &[], Command::Ask(Question::Points)),
            (
                "排行",
                &[],
                Command::Ask(Question::Rank {
                    window: Window::Month,
                    department: false,
                }),
            ),
            (
                "排行 本周 部门",
                &[],
                Command::Ask(Question::Rank {
                    window: Window::Week,
                    department: true,
                }),
            ),
            (
                "rank quarter",
                &[],
                Command::Ask(Question::Rank {
                    window: Window::Quarter,
                    department: false,
                }),
            ),
            (
                "rank dept all",
                &[],
                Command::Ask(Question::Rank {
                    window: Window::All,
                    department: true,
                }),
            ),
            (
                "排行 本年",
                &[],
                Command::Ask(Question::Rank {
                    window: Window::Year,
                    department: false,
                }),
            ),
            ("明细", &[], Command::Ask(Question::History { month: None })),
            (
                "明细 2026-10",
                &[],
                Command::Ask(Question::History {
                    month: Some(month(2026, 10)),
                }),
            ),
            (
                "history 2026/3",
                &[],
                Command::Ask(Question::History {
                    month: Some(month(2026, 3)),
                }),
            ),
            ("规则", &[], Command::Ask(Question::Rules)),
            ("help", &[], Command::Ask(Question::Help)),
            ("审计", &[], Command::Ask(Question::Audit { who: None })),
            (
                "audit @Li",
                &["liqiang"],
                Command::Ask(Question::Audit {
                    who: Some("liqiang".into()),
                }),
            ),
        ]
    }

    fn adjust_cases() -> Vec<Case> {
        vec![
            (
                "奖 @李强 5 协助客户回访",
                &["liqiang"],
                adjust("liqiang", 5, "协助客户回访"),
            ),
            (
                "奖@李强\u{2005}5分 理由：加班",
                &["liqiang"],
                adjust("liqiang", 5, "加班"),
            ),
            (
                "给@李强 加50积分 理由：协助完成五月客户回访",
                &["liqiang"],
                adjust("liqiang", 50, "协助完成五月客户回访"),
            ),
            (
                "award @Li +8 points fixed the build",
                &["liqiang"],
                adjust("liqiang", 8, "fixed the build"),
            ),
            (
                "扣 @李强 3 会议迟到",
                &["liqiang"],
                adjust("liqiang", -3, "会议迟到"),
            ),
            (
                "扣分 @李强 3 会议迟到",
                &["liqiang"],
                adjust("liqiang", -3, "会议迟到"),
            ),
            (
                "deduct @Li 2 reason: late",
                &["liqiang"],
                adjust("liqiang", -2, "late"),
            ),
        ]
    }

    fn entry_and_hr_cases() -> Vec<Case> {
        vec![
            (
                "撤销 12 录入错误",
                &[],
                Command::Do(Change::Revoke {
                    entry: 12,
                    reason: "录入错误".into(),
                }),
            ),
            (
                "revoke #7 typo",
                &[],
                Command::Do(Change::Revoke {
                    entry: 7,
                    reason: "typo".into(),
                }),
            ),
            (
                "批准 第12条",
                &[],
                Command::Do(Change::Approve { entry: 12 }),
            ),
            ("approve 3", &[], Command::Do(Change::Approve { entry: 3 })),
            (
                "驳回 12 证明材料不足",
                &[],
                Command::Do(Change::Reject {
                    entry: 12,
                    reason: "证明材料不足".into(),
                }),
            ),
            (
                "预算 @张伟 200",
                &["zhangwei"],
                Command::Do(Change::Budget {
                    who: "zhangwei".into(),
                    points: 200,
                }),
            ),
            (
                "budget @Zhang 200 points",
                &["zhangwei"],
                Command::Do(Change::Budget {
                    who: "zhangwei".into(),
                    points: 200,
                }),
            ),
            (
                "导出 2026-10",
                &[],
                Command::Do(Change::Export {
                    month: month(2026, 10),
                }),
            ),
            (
                "export 2026年9月",
                &[],
                Command::Do(Change::Export {
                    month: month(2026, 9),
                }),
            ),
        ]
    }

    #[test]
    fn commands_parse_in_chinese_and_english() {
        let cases = question_cases()
            .into_iter()
            .chain(adjust_cases())
            .chain(entry_and_hr_cases());
        for (text, mentioned, expected) in cases {
            assert_eq!(parse(text, &people(mentioned)), Ok(expected), "{text}");
        }
    }

    type WrongCase = (&'static str, &'static [&'static str], Option<Kind>, Problem);

    fn wrong_words_and_amounts() -> Vec<WrongCase> {
        use Problem::*;
        vec![
            ("", &[], None, Empty),
            ("@机器人", &[], None, Empty),
            (
                "我的积分还有多少",
                &[],
                Some(Kind::Points),
                Unexpected("还有多少".into()),
            ),
            ("hello", &[], None, Unknown("hello".into())),
            ("pointsplease", &[], None, Unknown("pointsplease".into())),
            ("RAN\u{212A}", &[], None, Unknown("RAN\u{212A}".into())),
            ("奖 5 加班", &[], Some(Kind::Award), NoPerson),
            (
                "奖 @a @b 5 加班",
                &["a", "b"],
                Some(Kind::Award),
                SeveralPeople,
            ),
            ("奖 @李强", &["liqiang"], Some(Kind::Award), NoAmount),
            (
                "奖 @李强 五 加班",
                &["liqiang"],
                Some(Kind::Award),
                BadAmount("五".into()),
            ),
            (
                "奖 @李强 0 加班",
                &["liqiang"],
                Some(Kind::Award),
                BadAmount("0".into()),
            ),
            (
                "奖 @李强 -5 加班",
                &["liqiang"],
                Some(Kind::Award),
                BadAmount("-5".into()),
            ),
            (
                "奖 @李强 1000000 加班",
                &["liqiang"],
                Some(Kind::Award),
                BadAmount("1000000".into()),
            ),
            (
                "奖 @李强 99999999999999999999 x",
                &["liqiang"],
                Some(Kind::Award),
                BadAmount("99999999999999999999".into()),
            ),
        ]
    }

    fn wrong_reasons_entries_and_months() -> Vec<WrongCase> {
        use Problem::*;
        vec![
            ("扣 @李强 3", &["liqiang"], Some(Kind::Deduct), NoReason),
            (
                "扣 @李强 3 理由：",
                &["liqiang"],
                Some(Kind::Deduct),
                NoReason,
            ),
            ("撤销", &[], Some(Kind::Revoke), NoEntry),
            (
                "撤销 abc 错了",
                &[],
                Some(Kind::Revoke),
                BadEntry("abc".into()),
            ),
            ("撤销 12", &[], Some(Kind::Revoke), NoReason),
            ("驳回 12", &[], Some(Kind::Reject), NoReason),
            (
                "approve 3 now",
                &[],
                Some(Kind::Approve),
                Unexpected("now".into()),
            ),
            ("导出", &[], Some(Kind::Export), NoMonth),
            (
                "导出 2026-13",
                &[],
                Some(Kind::Export),
                BadMonth("2026-13".into()),
            ),
            (
                "明细 十月",
                &[],
                Some(Kind::History),
                BadMonth("十月".into()),
            ),
            (
                "排行 昨天",
                &[],
                Some(Kind::Rank),
                Unexpected("昨天".into()),
            ),
            ("预算 200", &[], Some(Kind::Budget), NoPerson),
        ]
    }

    fn shop_cases() -> Vec<Case> {
        let step = |id, step, note: &str| {
            Command::Do(Change::Redemption {
                id,
                step,
                note: note.into(),
            })
        };
        let redeem = |reward: &str| {
            Command::Do(Change::Redeem {
                reward: reward.into(),
            })
        };
        vec![
            ("奖品", &[], Command::Ask(Question::Rewards)),
            ("商城", &[], Command::Ask(Question::Rewards)),
            ("rewards", &[], Command::Ask(Question::Rewards)),
            ("兑换记录", &[], Command::Ask(Question::Redemptions)),
            ("我的兑换", &[], Command::Ask(Question::Redemptions)),
            ("Redemptions", &[], Command::Ask(Question::Redemptions)),
            ("兑换 coffee", &[], redeem("coffee")),
            ("redeem  book ", &[], redeem("book")),
            ("取消兑换 #7", &[], step(7, RedemptionStep::Cancel, "")),
            ("cancel 7", &[], step(7, RedemptionStep::Cancel, "")),
            ("同意兑换 7", &[], step(7, RedemptionStep::Approve, "")),
            ("grant 7", &[], step(7, RedemptionStep::Approve, "")),
            ("发放 7", &[], step(7, RedemptionStep::Fulfil, "")),
            (
                "fulfil 7 shipped by SF",
                &[],
                step(7, RedemptionStep::Fulfil, "shipped by SF"),
            ),
            (
                "拒绝兑换 7 库存不足",
                &[],
                step(7, RedemptionStep::Reject, "库存不足"),
            ),
            (
                "refuse 7 reason: no stock",
                &[],
                step(7, RedemptionStep::Reject, "no stock"),
            ),
        ]
    }

    #[test]
    fn shop_commands_parse_in_chinese_and_english() {
        for (text, mentioned, expected) in shop_cases() {
            assert_eq!(parse(text, &people(mentioned)), Ok(expected), "{text}");
        }
        use Problem::*;
        let wrong: [WrongCase; 6] = [
            ("兑换", &[], Some(Kind::Redeem), NoReward),
            (
                "兑换 coffee 两杯",
                &[],
                Some(Kind::Redeem),
                Unexpected("两杯".into()),
            ),
            ("取消兑换", &[], Some(Kind::Cancel), NoRedemption),
            (
                "grant seven",
                &[],
                Some(Kind::Grant),
                BadRedemption("seven".into()),
            ),
            (
                "grant 7 now",
                &[],
                Some(Kind::Grant),
                Unexpected("now".into()),
            ),
            ("拒绝兑换 7", &[], Some(Kind::Refuse), NoReason),
        ];
        for (text, mentioned, kind, problem) in wrong {
            assert_eq!(
                parse(text, &people(mentioned)),
                Err(Usage { kind, problem }),
                "{text}"
            );
        }
    }

    #[test]
    fn appeal_and_thanks_commands_parse_in_chinese_and_english() {
        let decide = |appeal, verdict, note: &str| {
            Ok(Command::Do(Change::Decide {
                appeal,
                verdict,
                note: note.into(),
            }))
        };
        let full = Verdict::Uphold { points: None };
        let part = |p| Verdict::Uphold { points: Some(p) };
        use Problem::*;
        let cases: [(&str, Result<Command, Usage>); 15] = [
            ("申诉列表", Ok(Command::Ask(Question::Appeals))),
            (
                "赞 @李强 2 谢谢帮忙",
                Ok(Command::Do(Change::Recognise {
                    who: "liqiang".into(),
                    points: 2,
                    reason: "谢谢帮忙".into(),
                })),
            ),
            ("appeals", Ok(Command::Ask(Question::Appeals))),
            (
                "申诉 12 当天在客户现场",
                Ok(Command::Do(Change::Appeal {
                    entry: 12,
                    reason: "当天在客户现场".into(),
                })),
            ),
            (
                "appeal #12 I was at a customer's site",
                Ok(Command::Do(Change::Appeal {
                    entry: 12,
                    reason: "I was at a customer's site".into(),
                })),
            ),
            ("申诉成立 3", decide(3, full, "")),
            ("申诉成立 3 情况属实", decide(3, full, "情况属实")),
            ("申诉成立 3 2分 部分属实", decide(3, part(2), "部分属实")),
            ("uphold 3 2 confirmed", decide(3, part(2), "confirmed")),
            (
                "申诉驳回 3 考勤记录无误",
                decide(3, Verdict::Reject, "考勤记录无误"),
            ),
            (
                "申诉 12",
                Err(Usage {
                    kind: Some(Kind::Appeal),
                    problem: NoReason,
                }),
            ),
            (
                "申诉",
                Err(Usage {
                    kind: Some(Kind::Appeal),
                    problem: NoEntry,
                }),
            ),
            (
                "dismiss 3",
                Err(Usage {
                    kind: Some(Kind::Dismiss),
                    problem: NoReason,
                }),
            ),
            (
                "uphold x",
                Err(Usage {
                    kind: Some(Kind::Uphold),
                    problem: BadAppeal("x".into()),
                }),
            ),
            (
                "uphold",
                Err(Usage {
                    kind: Some(Kind::Uphold),
                    problem: NoAppeal,
                }),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, &people(&["liqiang"])), want, "{text}");
        }
    }

    #[test]
    fn wrong_or_incomplete_commands_say_what_was_expected() {
        let cases = wrong_words_and_amounts()
            .into_iter()
            .chain(wrong_reasons_entries_and_months());
        for (text, mentioned, kind, problem) in cases {
            assert_eq!(
                parse(text, &people(mentioned)),
                Err(Usage { kind, problem }),
                "{text}"
            );
        }
    }

    #[test]
    fn whole_numbers_have_plain_digits_and_an_optional_sign() {
        let cases = [
            ("12", Some(12)),
            ("+5", Some(5)),
            ("-3", Some(-3)),
            ("5,000", None),
            ("5.5", None),
            ("1e3", None),
            ("", None),
            ("-", None),
            ("--3", None),
            ("99999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(whole_number(text), want, "{text:?}");
        }
    }

    #[test]
    fn amounts_are_whole_numbers_in_plain_digits() {
        let liqiang = people(&["liqiang"]);
        let refused = [
            ("奖 @李强 5,000 加班", "5,000"),
            ("奖 @李强 5.5 加班", "5.5"),
            ("award @Li 1e3 overtime", "1e3"),
            ("奖 @李强 ５ 加班", "５"),
            ("奖 @李强 5pointsx overtime", "5pointsx"),
            ("预算 @李强 2,000", "2,000"),
        ];
        for (text, word) in refused {
            let wrong = parse(text, &liqiang).unwrap_err();
            assert_eq!(wrong.problem, Problem::BadAmount(word.into()), "{text}");
        }
        let accepted = [
            ("奖 @李强 5分加班", 5, "加班"),
            ("奖 @李强 5 分 加班", 5, "加班"),
            ("award @Li 5points overtime", 5, "overtime"),
            ("扣 @李强 +3 迟到", -3, "迟到"),
        ];
        for (text, points, reason) in accepted {
            assert_eq!(
                parse(text, &liqiang),
                Ok(adjust("liqiang", points, reason)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_reason_has_a_length_limit() {
        let liqiang = people(&["liqiang"]);
        let longest = "好".repeat(MAX_REASON_CHARS);
        assert_eq!(
            parse(&format!("奖 @李强 5 {longest}"), &liqiang),
            Ok(adjust("liqiang", 5, &longest))
        );
        let wrong = parse(&format!("奖 @李强 5 {longest}好"), &liqiang).unwrap_err();
        assert_eq!(wrong.problem, Problem::LongReason);
        let wrong = parse(&format!("撤销 12 {longest}!"), &[]).unwrap_err();
        assert_eq!(wrong.problem, Problem::LongReason);
    }
}
