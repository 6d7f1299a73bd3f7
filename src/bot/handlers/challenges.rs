//! `挑战` / `challenges`: each team challenge with its department's progress as a meter.

use super::department_name;
use crate::bot::dispatch::Sender;
use crate::bot::text::badges as text;
use crate::bot::{Bot, BotError};
use crate::domain::PeriodKind;

pub(in crate::bot) async fn answer(bot: &Bot, sender: &Sender<'_>) -> Result<String, BotError> {
    let lang = sender.lang;
    let mut out = lang
        .pick("### 团队挑战\n", "### Team challenges\n")
        .to_string();
    let challenges = &bot.badging.book.challenges;
    if challenges.is_empty() {
        out.push_str(lang.pick("- 还没有设置团队挑战", "- no challenges are set up"));
        return Ok(out);
    }
    let mut lines = Vec::with_capacity(challenges.len());
    for c in challenges {
        let period = bot
            .calendar
            .period_of(PeriodKind::Month, c.month.first_day())?;
        let progress = bot
            .store
            .team_points(&c.department, &c.category, period.start, period.end)
            .await?;
        let department = department_name(bot, &c.department).await?;
        lines.push(text::challenge_line(
            lang,
            &bot.badging.book,
            c,
            &department,
            progress,
        ));
    }
    out.push_str(&lines.join("\n"));
    Ok(out)
}
