//! One ranking: every person's points in one period, kept in an order-statistics tree so the
//! top of the board and any person's place are a lookup, not a count over everyone. Pure: the
//! index feeds it entries and says who is ranked.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

/// How people with the same points are placed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiePolicy {
    /// Equal points share a place and the next place is skipped: 1, 1, 3.
    #[default]
    Shared,
    /// Equal points share a place and none is skipped: 1, 1, 2.
    Dense,
    /// Whoever reached their points earlier is placed first: 1, 2, 3.
    EarlierAchiever,
}

impl TiePolicy {
    pub fn name(self) -> &'static str {
        match self {
            TiePolicy::Shared => "shared",
            TiePolicy::Dense => "dense",
            TiePolicy::EarlierAchiever => "earlier_achiever",
        }
    }
}

/// A person, by their index in the directory.
pub type Person = u32;

/// The order on the board: more points first, then the earlier achiever, then the person.
type Key = (Reverse<i64>, i64, Person);

/// For someone who has not scored: after everyone who has.
const NEVER: i64 = i64::MAX;

#[derive(Debug, Clone, Copy)]
struct Standing {
    points: i64,
    achieved_at: i64,
    ranked: bool,
}

const UNSEEN: Standing = Standing {
    points: 0,
    achieved_at: NEVER,
    ranked: false,
};

/// A place on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub rank: u32,
    pub person: Person,
    pub points: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Board {
    standings: Vec<Standing>,
    order: indexset::BTreeSet<Key>,
    /// How many ranked people hold each score, for dense ranks.
    scores: indexset::BTreeMap<Reverse<i64>, u32>,
}

impl Board {
    /// How many people are ranked.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn points(&self, person: Person) -> i64 {
        self.standing(person).points
    }

    pub fn is_ranked(&self, person: Person) -> bool {
        self.standing(person).ranked
    }

    /// Sets a person's points outright (as summed by the database) when building the board.
    pub fn load(&mut self, person: Person, points: i64, achieved_at: Option<i64>) {
        self.change(person, |s| {
            s.points = points;
            s.achieved_at = achieved_at.unwrap_or(NEVER);
        });
    }

    /// Adds one entry's score change, which occurred at `at` (Unix ms).
    pub fn add(&mut self, person: Person, delta: i64, at: i64) {
        if delta == 0 {
            return;
        }
        self.change(person, |s| {
            s.points += delta;
            s.achieved_at = if s.achieved_at == NEVER {
                at
            } else {
                s.achieved_at.max(at)
            };
        });
    }

    /// Puts a person on the board or takes them off (an exclusion, a leaver, a new hire when
    /// only people employed for the whole period are ranked). Their points are kept either way.
    pub fn set_ranked(&mut self, person: Person, ranked: bool) {
        self.change(person, |s| s.ranked = ranked);
    }

    /// A person's place, or `None` when they are not ranked.
    pub fn place(&self, person: Person, tie: TiePolicy) -> Option<Place> {
        let s = self.standing(person);
        if !s.ranked {
            return None;
        }
        let key = key(person, s);
        let rank = match tie {
            TiePolicy::EarlierAchiever => self.order.rank(&key),
            TiePolicy::Shared => self.order.rank(&first_with(s.points)),
            TiePolicy::Dense => self.scores.rank(&Reverse(s.points)),
        };
        Some(Place {
            rank: rank as u32 + 1,
            person,
            points: s.points,
        })
    }

    /// The first `limit` places.
    pub fn top(&self, limit: usize, tie: TiePolicy) -> Vec<Place> {
        places(self.order.iter().take(limit).copied(), tie)
    }

    fn standing(&self, person: Person) -> Standing {
        self.standings
            .get(person as usize)
            .copied()
            .unwrap_or(UNSEEN)
    }

    fn change(&mut self, person: Person, edit: impl FnOnce(&mut Standing)) {
        let at = person as usize;
        if at >= self.standings.len() {
            self.standings.resize(at + 1, UNSEEN);
        }
        let before = self.standings[at];
        edit(&mut self.standings[at]);
        let after = self.standings[at];
        if before.ranked {
            self.order.remove(&key(person, before));
            self.count_score(before.points, -1);
        }
        if after.ranked {
            self.order.insert(key(person, after));
            self.count_score(after.points, 1);
        }
    }

    fn count_score(&mut self, points: i64, by: i32) {
        let score = Reverse(points);
        let count = self.scores.get(&score).copied().unwrap_or(0);
        let count = count.saturating_add_signed(by);
        if count == 0 {
            self.scores.remove(&score);
        } else {
            self.scores.insert(score, count);
        }
    }
}

fn key(person: Person, s: Standing) -> Key {
    (Reverse(s.points), s.achieved_at, person)
}

/// The smallest key with these points: how many are ahead of anyone who has them.
fn first_with(points: i64) -> Key {
    (Reverse(points), i64::MIN, 0)
}

/// Ranks people already in board order; the first of them is first on the board.
fn places(ordered: impl Iterator<Item = Key>, tie: TiePolicy) -> Vec<Place> {
    let mut out: Vec<Place> = Vec::new();
    for (i, (Reverse(points), _, person)) in ordered.enumerate() {
        let rank = match (out.last(), tie) {
            (_, TiePolicy::EarlierAchiever) | (None, _) => i as u32 + 1,
            (Some(prev), _) if prev.points == points => prev.rank,
            (Some(_), TiePolicy::Shared) => i as u32 + 1,
            (Some(prev), TiePolicy::Dense) => prev.rank + 1,
        };
        out.push(Place {
            rank,
            person,
            points,
        });
    }
    out
}

/// The board of a few people only (a department): sorts them, since they are few.
/// Returns their places in board order.
pub fn rank_among(board: &Board, people: &[Person], tie: TiePolicy) -> Vec<Place> {
    let mut keys: Vec<Key> = people
        .iter()
        .map(|&p| (p, board.standing(p)))
        .filter(|(_, s)| s.ranked)
        .map(|(p, s)| key(p, s))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    places(keys.into_iter(), tie)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five people: 0 and 1 tie on 30 (1 got there first), 2 and 3 tie on 10, 4 has nothing.
    fn board() -> Board {
        let mut b = Board::default();
        for p in 0..5 {
            b.set_ranked(p, true);
        }
        b.add(0, 30, 2_000);
        b.add(1, 20, 500);
        b.add(1, 10, 1_000);
        b.add(2, 10, 100);
        b.add(3, 10, 100);
        b
    }

    fn ranks(places: &[Place]) -> Vec<(Person, u32)> {
        places.iter().map(|p| (p.person, p.rank)).collect()
    }

    #[test]
    fn ties_are_placed_by_the_configured_policy() {
        let b = board();
        let cases = [
            (
                TiePolicy::Shared,
                vec![(1, 1), (0, 1), (2, 3), (3, 3), (4, 5)],
            ),
            (
                TiePolicy::Dense,
                vec![(1, 1), (0, 1), (2, 2), (3, 2), (4, 3)],
            ),
            (
                TiePolicy::EarlierAchiever,
                vec![(1, 1), (0, 2), (2, 3), (3, 4), (4, 5)],
            ),
        ];
        for (tie, expected) in cases {
            assert_eq!(ranks(&b.top(10, tie)), expected, "{tie:?}");
            for (person, rank) in &expected {
                assert_eq!(
                    b.place(*person, tie).unwrap().rank,
                    *rank,
                    "{tie:?} {person}"
                );
            }
            assert_eq!(ranks(&rank_among(&b, &[0, 1, 2, 3, 4], tie)), expected);
        }
    }

    #[test]
    fn a_later_entry_moves_a_person_and_a_reversal_moves_them_back() {
        let mut b = board();
        b.add(4, 50, 3_000);
        assert_eq!(b.place(4, TiePolicy::Shared).unwrap().rank, 1);
        assert_eq!(b.place(0, TiePolicy::Shared).unwrap().rank, 2);
        b.add(4, -50, 4_000);
        assert_eq!(b.place(4, TiePolicy::Shared).unwrap().rank, 5);
        assert_eq!(b.place(0, TiePolicy::Shared).unwrap().rank, 1);
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn an_unranked_person_keeps_points_but_has_no_place_and_nobody_counts_them() {
        let mut b = board();
        b.set_ranked(0, false);
        assert_eq!(b.place(0, TiePolicy::Shared), None);
        assert_eq!(b.points(0), 30);
        assert_eq!(b.place(2, TiePolicy::Shared).unwrap().rank, 2);
        assert_eq!(b.place(2, TiePolicy::Dense).unwrap().rank, 2);
        b.set_ranked(0, true);
        assert_eq!(b.place(2, TiePolicy::Shared).unwrap().rank, 3);
        b.add(9, 100, 1);
        assert_eq!(
            b.place(9, TiePolicy::Shared),
            None,
            "never put on the board"
        );
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn loaded_totals_rank_like_added_entries() {
        let mut loaded = Board::default();
        for (p, points, at) in [(0, 30, Some(2_000)), (1, 30, Some(1_000)), (4, 0, None)] {
            loaded.load(p, points, at);
            loaded.set_ranked(p, true);
        }
        let mut added = Board::default();
        for p in [0, 1, 4] {
            added.set_ranked(p, true);
        }
        added.add(0, 30, 2_000);
        added.add(1, 30, 1_000);
        let tie = TiePolicy::EarlierAchiever;
        assert_eq!(loaded.top(3, tie), added.top(3, tie));
    }
}
