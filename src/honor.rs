//! The weekly honor board (光荣榜): last week's top ten with their points and how they moved
//! against the week before, and the leading department, as a card for group chats. Pure:
//! the job gathers the rankings, this lays them out.

use std::collections::{HashMap, HashSet};

use crate::dingtalk::openapi::Message;
use crate::store::{DepartmentTotal, Ranked};

/// Places on the board.
pub const TOP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Up(usize),
    Down(usize),
    Same,
    /// No points the week before.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Shared for ties: 30, 20, 20, 10 rank 1, 2, 2, 4.
    pub rank: usize,
    pub name: String,
    pub points: i64,
    pub movement: Movement,
}

/// Shared ranks over a board sorted best first, without the excluded people.
fn ranks<'a>(board: &'a [Ranked], excluded: &HashSet<String>) -> Vec<(usize, &'a Ranked)> {
    let kept: Vec<&Ranked> = board
        .iter()
        .filter(|r| !excluded.contains(&r.userid))
        .collect();
    let mut out: Vec<(usize, &Ranked)> = Vec::with_capacity(kept.len());
    for (i, row) in kept.into_iter().enumerate() {
        let rank = match out.last() {
            Some(&(rank, prev)) if prev.points == row.points => rank,
            _ => i + 1,
        };
        out.push((rank, row));
    }
    out
}

/// The top of `this_week` with movement against `week_before`; both sorted best first and
/// holding everyone with points.
pub fn standings(
    this_week: &[Ranked],
    week_before: &[Ranked],
    excluded: &HashSet<String>,
) -> Vec<Standing> {
    let before: HashMap<&str, usize> = ranks(week_before, excluded)
        .into_iter()
        .map(|(rank, r)| (r.userid.as_str(), rank))
        .collect();
    ranks(this_week, excluded)
        .into_iter()
        .filter(|(rank, _)| *rank <= TOP)
        .map(|(rank, r)| Standing {
            rank,
            name: r.name.clone(),
            points: r.points,
            movement: match before.get(r.userid.as_str()) {
                None => Movement::New,
                Some(&was) if was > rank => Movement::Up(was - rank),
                Some(&was) if was < rank => Movement::Down(rank - was),
                Some(_) => Movement::Same,
            },
        })
        .collect()
}

/// The card: markdown, with a button to the employee page when there is one.
pub fn render(
    week: &str,
    standings: &[Standing],
    leading: Option<&DepartmentTotal>,
    page_url: Option<&str>,
) -> Message {
    let title = format!("光荣榜 · {week}");
    let mut text = format!("### 🏆 {title}\n");
    if standings.is_empty() {
        text.push_str("\n上周还没有人获得积分。No points were earned last week.");
    }
    for s in standings {
        let medal = match s.rank {
            1 => "🥇",
            2 => "🥈",
            3 => "🥉",
            _ => "",
        };
        text.push_str(&format!(
            "\n{}. {medal}**{}** {:+} 积分 {}",
            s.rank, s.name, s.points, s.movement
        ));
    }
    if let Some(d) = leading.filter(|d| d.score > 0) {
        text.push_str(&format!(
            "\n\n领先部门 Leading department: **{}** {:+} 积分（{} 人）",
            d.name, d.score, d.members
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(userid: &str, name: &str, points: i64) -> Ranked {
        Ranked {
            userid: userid.into(),
            name: name.into(),
            points,
        }
    }

    fn week() -> Vec<Ranked> {
        vec![
            ranked("hr", "人事", 50),
            ranked("a", "张伟", 30),
            ranked("b", "王芳", 20),
            ranked("c", "李强", 20),
            ranked("d", "陈静", 10),
        ]
    }

    #[test]
    fn movement_is_against_the_week_before_with_shared_ranks_and_exclusions() {
        let before = vec![
            ranked("c", "李强", 40),
            ranked("d", "陈静", 5),
            ranked("a", "张伟", 5),
            ranked("hr", "人事", 1),
        ];
        let excluded = HashSet::from(["hr".to_string()]);
        let got: Vec<(usize, String, Movement)> = standings(&week(), &before, &excluded)
            .into_iter()
            .map(|s| (s.rank, s.name, s.movement))
            .collect();
        let expected = [
            // 张伟 and 陈静 shared 2nd before (5 each); 人事 is excluded.
            (1, "张伟", Movement::Up(1)),
            (2, "王芳", Movement::New),
            (2, "李强", Movement::Down(1)),
            (4, "陈静", Movement::Down(2)),
        ]
        .map(|(r, n, m)| (r, n.to_string(), m));
        assert_eq!(got, expected);
    }
    #[test]
    fn only_the_top_ten_places_are_shown() {
        let many: Vec<Ranked> = (0..15)
            .map(|i| ranked(&format!("u{i}"), &format!("员工{i}"), 100 - i.min(11)))
            .collect();
        let board = standings(&many, &[], &HashSet::new());
        // Ranks 1..=10, then 11 is shared by five people and left off.
        assert_eq!(board.len(), 10);
        assert_eq!(board.last().unwrap().rank, 10);
    }

    #[test]
    fn the_card_as_sent() {
        let board = standings(&week(), &[ranked("a", "张伟", 30)], &HashSet::new());
        let leading = DepartmentTotal {
            department_id: "575401962".into(),
            name: "华东销售部".into(),
            score: 55,
            members: 6,
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
    }
}
