//! The weekly honor board (光荣榜): last week's top ten with their points and how they moved
//! against the week before, and the leading department, as a card for group chats. Pure:
//! the job ranks the weeks as the leaderboards do, this picks the places and lays them out.

use std::collections::BTreeMap;

use crate::dingtalk::openapi::Message;
use crate::leaderboard::DepartmentRow;

/// The kind of card the honor board is, in the cards table.
pub const HONOR_CARD: &str = "honor";

/// The honor board card of one group and week, e.g. `honor-20261116-9f86d081884c7d65`: the
/// same every time, so a second run of the slot names the card the first one made.
pub fn card_id(group: &str, first_day: jiff::civil::Date) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(group.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("honor-{}-{hex}", first_day.strftime("%Y%m%d"))
}

/// The interactive card's variable counting its 点赞.
pub const LIKES_PARAM: &str = "likes";
/// The buttons' actions (`params.action`, or the action id).
pub const MY_PLACE: &str = "my_place";
pub const LIKE: &str = "like";
/// What a card keeps per person: their place, and whether they liked it.
pub const MY_PLACE_PARAM: &str = "my_place";
pub const LIKED_PARAM: &str = "liked";

/// Places on the board.
pub const TOP: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Up(u32),
    Down(u32),
    Same,
    /// No entry changed their points the week before.
    New,
}

impl std::fmt::Display for Movement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Movement::Up(n) => write!(f, "↑{n}"),
            Movement::Down(n) => write!(f, "↓{n}"),
            Movement::Same => f.write_str("→"),
            Movement::New => f.write_str("new"),
        }
    }
}

/// A person's place last week and, if they earned or lost points then, the week before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placing {
    /// As the leaderboards' tie policy gives it.
    pub rank: u32,
    pub name: String,
    pub points: i64,
    pub rank_before: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub rank: u32,
    pub name: String,
    pub points: i64,
    pub movement: Movement,
}

/// The places of the top ten that earned points, from last week's board in board order.
pub fn standings(board: impl IntoIterator<Item = Placing>) -> Vec<Standing> {
    board
        .into_iter()
        .take_while(|p| p.rank <= TOP && p.points > 0)
        .map(|p| Standing {
            movement: match p.rank_before {
                None => Movement::New,
                Some(was) if was > p.rank => Movement::Up(was - p.rank),
                Some(was) if was < p.rank => Movement::Down(p.rank - was),
                Some(_) => Movement::Same,
            },
            rank: p.rank,
            name: p.name,
            points: p.points,
        })
        .collect()
}

/// The board's places, a markdown line each.
fn board_text(standings: &[Standing]) -> String {
    if standings.is_empty() {
        return "上周还没有人获得积分。No points were earned last week.".into();
    }
    let lines: Vec<String> = standings
        .iter()
        .map(|s| {
            let medal = match s.rank {
                1 => "🥇",
                2 => "🥈",
                3 => "🥉",
                _ => "",
            };
            format!(
                "{}. {medal}**{}** {:+} 积分 {}",
                s.rank, s.name, s.points, s.movement
            )
        })
        .collect();
    lines.join("\n")
}

fn leading_text(leading: Option<&DepartmentRow>) -> Option<String> {
    leading.filter(|d| d.points > 0).map(|d| {
        format!(
            "领先部门 Leading department: **{}** {:+} 积分（{} 人）",
            d.name, d.points, d.members
        )
    })
}

/// The card: markdown, with a button to the employee page when there is one.
pub fn render(
    week: &str,
    standings: &[Standing],
    leading: Option<&DepartmentRow>,
    page_url: Option<&str>,
) -> Message {
    let title = format!("光荣榜 · {week}");
    let mut text = format!("### 🏆 {title}\n\n{}", board_text(standings));
    if let Some(line) = leading_text(leading) {
        text.push_str(&format!("\n\n{line}"));
    }
    match page_url {
        Some(url) => Message::ActionCard {
            title,
            text,
            button: "查看我的积分 My points".into(),
            url: url.to_string(),
        },
        None => Message::Markdown { title, text },
    }
}

/// The interactive card's variables (manifest/cards.md names them for the template): the
/// same board, the week's leaders for the 点赞 button, and no likes yet.
pub fn card_params(
    week: &str,
    standings: &[Standing],
    leading: Option<&DepartmentRow>,
    page_url: Option<&str>,
) -> BTreeMap<String, String> {
    let leaders: Vec<&str> = standings
        .iter()
        .filter(|s| s.rank == 1)
        .map(|s| s.name.as_str())
        .collect();
    [
        ("title", format!("光荣榜 · {week}")),
        ("week", week.to_string()),
        ("board", board_text(standings)),
        ("leading", leading_text(leading).unwrap_or_default()),
        ("leaders", leaders.join("、")),
        (LIKES_PARAM, "0".to_string()),
        ("page_url", page_url.unwrap_or_default().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placing(rank: u32, name: &str, points: i64, rank_before: Option<u32>) -> Placing {
        Placing {
            rank,
            name: name.into(),
            points,
            rank_before,
        }
    }

    fn week() -> Vec<Placing> {
        vec![
            placing(1, "张伟", 30, Some(2)),
            placing(2, "王芳", 20, None),
            placing(2, "李强", 20, Some(1)),
            placing(4, "陈静", 10, Some(4)),
        ]
    }

    #[test]
    fn movement_is_the_change_of_place_against_the_week_before() {
        let got: Vec<(u32, String, Movement)> = standings(week())
            .into_iter()
            .map(|s| (s.rank, s.name, s.movement))
            .collect();
        let expected = [
            (1, "张伟", Movement::Up(1)),
            (2, "王芳", Movement::New),
            (2, "李强", Movement::Down(1)),
            (4, "陈静", Movement::Same),
        ]
        .map(|(r, n, m)| (r, n.to_string(), m));
        assert_eq!(got, expected);
    }

    /// `n` people with points, the last of them sharing place `shared`.
    fn sharing_place(shared: u32, n: u32) -> Vec<(u32, i64)> {
        (1..=n)
            .map(|i| (i.min(shared), 100 - i64::from(i.min(shared))))
            .collect()
    }

    #[test]
    fn only_the_top_ten_places_that_earned_points_are_shown() {
        let cases = [
            ("place 11 is left off", sharing_place(11, 15), 10),
            (
                "everyone sharing place 10 is shown",
                sharing_place(10, 12),
                12,
            ),
            ("no deductions", vec![(1, 5), (2, 0), (3, -2)], 1),
            ("nobody", vec![], 0),
        ];
        for (case, board, shown) in cases {
            let board = board
                .into_iter()
                .map(|(rank, points)| placing(rank, "员工", points, None));
            assert_eq!(standings(board).len(), shown, "{case}");
        }
    }

    #[test]
    fn the_card_as_sent() {
        let board = standings([
            placing(1, "人事", 50, None),
            placing(2, "张伟", 30, Some(1)),
            placing(3, "王芳", 20, None),
            placing(3, "李强", 20, None),
            placing(5, "陈静", 10, None),
        ]);
        let leading = DepartmentRow {
            rank: 1,
            department_id: "575401962".into(),
            name: "华东销售部".into(),
            points: 55,
            members: 6,
            per_head: 9.17,
        };
        let card = render(
            "2026-11-16 – 11-22",
            &board,
            Some(&leading),
            Some("https://jifen.example.com/app"),
        );
        let pretty = |m: &Message| serde_json::to_string_pretty(m).unwrap();
        insta::assert_snapshot!("honor_board_card", pretty(&card));
        let empty = render("2026-11-16 – 11-22", &[], None, None);
        insta::assert_snapshot!("honor_board_empty", pretty(&empty));
        let params = card_params(
            "2026-11-16 – 11-22",
            &board,
            Some(&leading),
            Some("https://jifen.example.com/app"),
        );
        assert_eq!(
            card_id(
                "cidqE8f3kVb2T9nR5sLwZ7hYg==",
                jiff::civil::date(2026, 11, 16)
            ),
            card_id(
                "cidqE8f3kVb2T9nR5sLwZ7hYg==",
                jiff::civil::date(2026, 11, 16)
            ),
        );
        let id = card_id(
            "cidqE8f3kVb2T9nR5sLwZ7hYg==",
            jiff::civil::date(2026, 11, 16),
        );
        assert!(id.starts_with("honor-20261116-") && id.len() == 31, "{id}");
        assert_ne!(id, card_id("cidOther==", jiff::civil::date(2026, 11, 16)));
        insta::assert_snapshot!(
            "honor_board_interactive_card",
            serde_json::to_string_pretty(&params).unwrap()
        );
    }
}
