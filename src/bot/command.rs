//! Bot commands, Chinese and English, parsed from what was typed. People come from the
//! message's `atUsers`, never from the text (a name in the text can be anyone's). Pure: a
//! wrong command gets a [`Usage`] that says what was expected, with an example.

use crate::domain::Month;

/// The language of a reply: the one the command was typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn of(text: &str) -> Lang {
        if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// Picks the Chinese or the English text.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

pub use crate::leaderboard::Window;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
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
    Audit {
        who: Option<String>,
    },
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
];

/// Largest number of points one command may move; more is surely a typo.
pub const MAX_POINTS: i64 = 100_000;

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
    NoEntry,
    BadEntry(String),
    NoMonth,
    BadMonth(String),
    Unexpected(String),
}

pub fn parse(text: &str, mentioned: &[String]) -> Result<Command, Usage> {
    let text = without_mentions(&text.replace('：', ":"));
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
    let Some((kind, rest)) = found else {
        let first = text.split_whitespace().next().unwrap_or(text);
        return Err(Usage {
            kind: None,
            problem: Problem::Unknown(first.chars().take(20).collect()),
        });
    };
    let rest = rest.trim();
    let usage = |problem| Usage {
        kind: Some(kind),
        problem,
    };
    let only_one = |people: &[String]| match people {
        [] => Err(usage(Problem::NoPerson)),
        [one] => Ok(one.clone()),
        _ => Err(usage(Problem::SeveralPeople)),
    };
    let nothing_more = |rest: &str| match rest {
        "" => Ok(()),
        extra => Err(usage(Problem::Unexpected(extra.chars().take(20).collect()))),
    };
    match kind {
        Kind::Points => nothing_more(rest).map(|_| Command::Points),
        Kind::Rules => nothing_more(rest).map(|_| Command::Rules),
        Kind::Help => Ok(Command::Help),
        Kind::Rank => {
            let (mut window, mut department) = (Window::Month, false);
            for word in rest.split_whitespace() {
                match window_word(word) {
                    Some(w) => window = w,
                    None if matches!(
                        word.to_lowercase().as_str(),
                        "部门" | "本部门" | "dept" | "department"
                    ) =>
                    {
                        department = true
                    }
                    None => return Err(usage(Problem::Unexpected(word.into()))),
                }
            }
            Ok(Command::Rank { window, department })
        }
        Kind::History => match rest {
            "" => Ok(Command::History { month: None }),
            month => Month::parse(month)
                .map(|m| Command::History { month: Some(m) })
                .ok_or_else(|| usage(Problem::BadMonth(month.into()))),
        },
        Kind::Export => match rest {
            "" => Err(usage(Problem::NoMonth)),
            month => Month::parse(month)
                .map(|month| Command::Export { month })
                .ok_or_else(|| usage(Problem::BadMonth(month.into()))),
        },
        Kind::Award | Kind::Deduct => {
            let who = only_one(mentioned)?;
            let (points, reason) = amount_then_rest(rest).map_err(usage)?;
            let reason = reason_of(reason).ok_or_else(|| usage(Problem::NoReason))?;
            let points = if kind == Kind::Deduct {
                -points
            } else {
                points
            };
            Ok(Command::Adjust {
                who,
                points,
                reason,
            })
        }
        Kind::Budget => {
            let who = only_one(mentioned)?;
            let (points, rest) = amount_then_rest(rest).map_err(usage)?;
            nothing_more(rest)?;
            Ok(Command::Budget { who, points })
        }
        Kind::Revoke | Kind::Reject => {
            let (entry, reason) = entry_then_rest(rest).map_err(usage)?;
            let reason = reason_of(reason).ok_or_else(|| usage(Problem::NoReason))?;
            Ok(match kind {
                Kind::Revoke => Command::Revoke { entry, reason },
                _ => Command::Reject { entry, reason },
            })
        }
        Kind::Approve => {
            let (entry, rest) = entry_then_rest(rest).map_err(usage)?;
            nothing_more(rest)?;
            Ok(Command::Approve { entry })
        }
        Kind::Audit => match mentioned {
            [] => Ok(Command::Audit { who: None }),
            [one] => Ok(Command::Audit {
                who: Some(one.clone()),
            }),
            _ => Err(usage(Problem::SeveralPeople)),
        },
    }
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

/// `5`, `+5`, `5分`, `50积分` or `5 points`, then whatever follows.
fn amount_then_rest(rest: &str) -> Result<(i64, &str), Problem> {
    let rest = rest.trim_start();
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '+' || *c == '-'))
        .map_or(rest.len(), |(i, _)| i);
    let (number, after) = rest.split_at(end);
    if number.is_empty() {
        let word = rest.split_whitespace().next().unwrap_or("");
        return Err(if word.is_empty() {
            Problem::NoAmount
        } else {
            Problem::BadAmount(word.chars().take(20).collect())
        });
    }
    let points: i64 = number
        .strip_prefix('+')
        .unwrap_or(number)
        .parse()
        .ok()
        .filter(|p| (1..=MAX_POINTS).contains(p))
        .ok_or_else(|| Problem::BadAmount(number.into()))?;
    let after = after.trim_start();
    let after = ["积分", "分", "points", "point", "pts"]
        .into_iter()
        .find_map(|unit| {
            strip_word(after, unit).filter(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || !unit.is_ascii())
            })
        })
        .unwrap_or(after);
    Ok((points, after.trim_start()))
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

/// A reason, without a leading "理由:" or "reason:".
fn reason_of(text: &str) -> Option<String> {
    let text = text.trim();
    let text = ["理由:", "原因:", "reason:", "because"]
        .into_iter()
        .find_map(|prefix| strip_word(text, prefix))
        .unwrap_or(text)
        .trim();
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

impl Usage {
    /// A short reply: what was wrong, what was expected, and an example.
    pub fn reply(&self, lang: Lang) -> String {
        let problem = match &self.problem {
            Problem::Empty => lang.pick("请输入命令。", "Type a command.").to_string(),
            Problem::Unknown(word) => match lang {
                Lang::Zh => format!("没有「{word}」这个命令。"),
                Lang::En => format!("There is no command \"{word}\"."),
            },
            Problem::NoPerson => lang
                .pick("请 @ 一个人。", "Mention (@) one person.")
                .to_string(),
            Problem::SeveralPeople => lang
                .pick("一次只能 @ 一个人。", "Mention (@) only one person.")
                .to_string(),
            Problem::NoAmount => lang
                .pick("缺少积分数。", "The points are missing.")
                .to_string(),
            Problem::BadAmount(word) => match lang {
                Lang::Zh => format!("「{word}」不是 1 到 {MAX_POINTS} 之间的整数。"),
                Lang::En => format!("\"{word}\" is not a whole number from 1 to {MAX_POINTS}."),
            },
            Problem::NoReason => lang.pick("请写明理由。", "Give a reason.").to_string(),
            Problem::NoEntry => lang
                .pick("缺少记录编号。", "The entry number is missing.")
                .to_string(),
            Problem::BadEntry(word) => match lang {
                Lang::Zh => format!("「{word}」不是记录编号。"),
                Lang::En => format!("\"{word}\" is not an entry number."),
            },
            Problem::NoMonth => lang.pick("缺少月份。", "The month is missing.").to_string(),
            Problem::BadMonth(word) => match lang {
                Lang::Zh => format!("「{word}」不是月份（如 2026-10）。"),
                Lang::En => format!("\"{word}\" is not a month (like 2026-10)."),
            },
            Problem::Unexpected(word) => match lang {
                Lang::Zh => format!("多余的内容：「{word}」。"),
                Lang::En => format!("Unexpected \"{word}\"."),
            },
        };
        match self.kind.map(|k| usage_line(k, lang)) {
            Some(usage) => format!("{problem}\n{usage}"),
            None => format!(
                "{problem}\n{}",
                lang.pick("发送「帮助」查看命令。", "Send \"help\" for the commands.")
            ),
        }
    }
}

/// The form and an example of one command.
pub fn usage_line(kind: Kind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (Kind::Points, Lang::Zh) => "用法：积分",
        (Kind::Points, Lang::En) => "Usage: points",
        (Kind::Rank, Lang::Zh) => {
            "用法：排行 [本周|本月|本季|本年|总] [部门]，例如：排行 本周 部门"
        }
        (Kind::Rank, Lang::En) => {
            "Usage: rank [week|month|quarter|year|all] [dept], e.g. rank week dept"
        }
        (Kind::History, Lang::Zh) => "用法：明细 [月份]，例如：明细 2026-10",
        (Kind::History, Lang::En) => "Usage: history [month], e.g. history 2026-10",
        (Kind::Rules, Lang::Zh) => "用法：规则",
        (Kind::Rules, Lang::En) => "Usage: rules",
        (Kind::Help, Lang::Zh) => "用法：帮助",
        (Kind::Help, Lang::En) => "Usage: help",
        (Kind::Award, Lang::Zh) => "用法：奖 @某人 积分 理由，例如：奖 @张伟 5 协助客户回访",
        (Kind::Award, Lang::En) => {
            "Usage: award @someone points reason, e.g. award @Zhang 5 helped a customer"
        }
        (Kind::Deduct, Lang::Zh) => "用法：扣 @某人 积分 理由，例如：扣 @张伟 3 会议迟到",
        (Kind::Deduct, Lang::En) => {
            "Usage: deduct @someone points reason, e.g. deduct @Zhang 3 late for the meeting"
        }
        (Kind::Revoke, Lang::Zh) => "用法：撤销 编号 理由，例如：撤销 12 录入错误",
        (Kind::Revoke, Lang::En) => "Usage: revoke id reason, e.g. revoke 12 entered by mistake",
        (Kind::Approve, Lang::Zh) => "用法：批准 编号，例如：批准 12",
        (Kind::Approve, Lang::En) => "Usage: approve id, e.g. approve 12",
        (Kind::Reject, Lang::Zh) => "用法：驳回 编号 理由，例如：驳回 12 证明材料不足",
        (Kind::Reject, Lang::En) => "Usage: reject id reason, e.g. reject 12 no evidence",
        (Kind::Budget, Lang::Zh) => "用法：预算 @经理 每月积分，例如：预算 @张伟 200",
        (Kind::Budget, Lang::En) => "Usage: budget @manager monthly points, e.g. budget @Zhang 200",
        (Kind::Export, Lang::Zh) => "用法：导出 月份，例如：导出 2026-10",
        (Kind::Export, Lang::En) => "Usage: export month, e.g. export 2026-10",
        (Kind::Audit, Lang::Zh) => "用法：审计 [@某人]",
        (Kind::Audit, Lang::En) => "Usage: audit [@someone]",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn adjust(who: &str, points: i64, reason: &str) -> Command {
        Command::Adjust {
            who: who.into(),
            points,
            reason: reason.into(),
        }
    }

    fn month(year: i16, month: i8) -> Month {
        Month::new(year, month).unwrap()
    }

    #[test]
    fn commands_parse_in_chinese_and_english() {
        let cases: Vec<(&str, &[&str], Command)> = vec![
            ("积分", &[], Command::Points),
            ("我的积分", &[], Command::Points),
            ("  POINTS ", &[], Command::Points),
            (
                "排行",
                &[],
                Command::Rank {
                    window: Window::Month,
                    department: false,
                },
            ),
            (
                "排行 本周 部门",
                &[],
                Command::Rank {
                    window: Window::Week,
                    department: true,
                },
            ),
            (
                "rank quarter",
                &[],
                Command::Rank {
                    window: Window::Quarter,
                    department: false,
                },
            ),
            (
                "rank dept all",
                &[],
                Command::Rank {
                    window: Window::All,
                    department: true,
                },
            ),
            (
                "排行 本年",
                &[],
                Command::Rank {
                    window: Window::Year,
                    department: false,
                },
            ),
            ("明细", &[], Command::History { month: None }),
            (
                "明细 2026-10",
                &[],
                Command::History {
                    month: Some(month(2026, 10)),
                },
            ),
            (
                "history 2026/3",
                &[],
                Command::History {
                    month: Some(month(2026, 3)),
                },
            ),
            ("规则", &[], Command::Rules),
            ("help", &[], Command::Help),
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
            (
                "撤销 12 录入错误",
                &[],
                Command::Revoke {
                    entry: 12,
                    reason: "录入错误".into(),
                },
            ),
            (
                "revoke #7 typo",
                &[],
                Command::Revoke {
                    entry: 7,
                    reason: "typo".into(),
                },
            ),
            ("批准 第12条", &[], Command::Approve { entry: 12 }),
            ("approve 3", &[], Command::Approve { entry: 3 }),
            (
                "驳回 12 证明材料不足",
                &[],
                Command::Reject {
                    entry: 12,
                    reason: "证明材料不足".into(),
                },
            ),
            (
                "预算 @张伟 200",
                &["zhangwei"],
                Command::Budget {
                    who: "zhangwei".into(),
                    points: 200,
                },
            ),
            (
                "budget @Zhang 200 points",
                &["zhangwei"],
                Command::Budget {
                    who: "zhangwei".into(),
                    points: 200,
                },
            ),
            (
                "导出 2026-10",
                &[],
                Command::Export {
                    month: month(2026, 10),
                },
            ),
            (
                "export 2026年9月",
                &[],
                Command::Export {
                    month: month(2026, 9),
                },
            ),
            ("审计", &[], Command::Audit { who: None }),
            (
                "audit @Li",
                &["liqiang"],
                Command::Audit {
                    who: Some("liqiang".into()),
                },
            ),
        ];
        for (text, mentioned, expected) in cases {
            assert_eq!(parse(text, &people(mentioned)), Ok(expected), "{text}");
        }
    }

    #[test]
    fn wrong_or_incomplete_commands_say_what_was_expected() {
        use Problem::*;
        let cases: Vec<(&str, &[&str], Option<Kind>, Problem)> = vec![
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
        ];
        for (text, mentioned, kind, problem) in cases {
            assert_eq!(
                parse(text, &people(mentioned)),
                Err(Usage { kind, problem }),
                "{text}"
            );
        }
    }

    #[test]
    fn a_usage_reply_names_the_problem_and_gives_an_example() {
        let usage = parse("奖 @李强", &people(&["liqiang"])).unwrap_err();
        assert_eq!(
            usage.reply(Lang::Zh),
            "缺少积分数。\n用法：奖 @某人 积分 理由，例如：奖 @张伟 5 协助客户回访"
        );
        let usage = parse("award @Li", &people(&["liqiang"])).unwrap_err();
        assert_eq!(
            usage.reply(Lang::En),
            "The points are missing.\nUsage: award @someone points reason, e.g. award @Zhang 5 helped a customer"
        );
        assert_eq!(Lang::of("award @李强 5"), Lang::Zh);
        assert_eq!(Lang::of("award @Li 5"), Lang::En);
    }
}
