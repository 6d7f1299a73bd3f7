//! One ranking: every person's points in one period, kept in an order-statistics tree so the
//! top of the board and any person's place are a lookup, not a count over everyone. Pure: the
//! index feeds it entries and says who is ranked.

use std::cmp::Reverse;
use std::sync::Arc;

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

/// A large department, by its number in the directory's `Groups`.
pub type Group = u16;

/// Part of a board: everyone on it (`None`), or one large department's people in their own
/// order.
pub type Scope = Option<Group>;

/// The departments large enough to keep their own order (sorting them on demand would be
/// slow), and for each person the ones they belong to, directly or below.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// By person.
    of: Vec<Vec<Group>>,
    count: usize,
}

impl Groups {
    pub fn new(of: Vec<Vec<Group>>, count: usize) -> Self {
        Groups { of, count }
    }

    fn of(&self, person: Person) -> &[Group] {
        self.of.get(person as usize).map_or(&[], Vec::as_slice)
    }
}

/// The ranked people of a board, or of one large department on it, in board order.
#[derive(Debug, Clone, Default)]
struct Ranks {
    order: indexset::BTreeSet<Key>,
    /// How many ranked people hold each score, for dense ranks.
    scores: indexset::BTreeMap<Reverse<i64>, u32>,
    /// The ranked people's points together.
    total: i64,
}

impl Ranks {
    fn insert(&mut self, key: Key) {
        self.order.insert(key);
        self.count_score(key.0, 1);
        self.total += key.0.0;
    }

    fn remove(&mut self, key: Key) {
        self.order.remove(&key);
        self.count_score(key.0, -1);
        self.total -= key.0.0;
    }

    fn count_score(&mut self, score: Reverse<i64>, by: i32) {
        let count = self.scores.get(&score).copied().unwrap_or(0);
        let count = count.saturating_add_signed(by);
        if count == 0 {
            self.scores.remove(&score);
        } else {
            self.scores.insert(score, count);
        }
    }

    fn place(&self, key: Key, tie: TiePolicy) -> Place {
        let (Reverse(points), _, person) = key;
        let rank = match tie {
            TiePolicy::EarlierAchiever => self.order.rank(&key),
            TiePolicy::Shared => self.order.rank(&first_with(points)),
            TiePolicy::Dense => self.scores.rank(&Reverse(points)),
        };
        Place {
            rank: rank as u32 + 1,
            person,
            points,
        }
    }

    fn top(&self, limit: usize, tie: TiePolicy) -> Vec<Place> {
        places(self.order.iter().take(limit).copied(), tie)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Board {
    standings: Vec<Standing>,
    everyone: Ranks,
    groups: Arc<Groups>,
    /// By group.
    within: Vec<Ranks>,
}

impl Board {
    /// How many people are ranked in a scope.
    pub fn len(&self, scope: Scope) -> usize {
        self.ranks(scope).map_or(0, |r| r.order.len())
    }

    pub fn is_empty(&self) -> bool {
        self.everyone.order.is_empty()
    }

    /// The points of the people ranked in a scope together.
    pub fn total(&self, scope: Scope) -> i64 {
        self.ranks(scope).map_or(0, |r| r.total)
    }

    pub fn points(&self, person: Person) -> i64 {
        self.standing(person).points
    }

    pub fn is_ranked(&self, person: Person) -> bool {
        self.standing(person).ranked
    }

    /// Whether any entry of the board's period changed the person's score.
    pub fn has_scored(&self, person: Person) -> bool {
        self.standing(person).achieved_at != NEVER
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

    /// Orders the people of each group among themselves from now on (after the address book
    /// changed).
    pub fn set_groups(&mut self, groups: Arc<Groups>) {
        if Arc::ptr_eq(&self.groups, &groups) {
            return;
        }
        self.within = vec![Ranks::default(); groups.count];
        for (person, s) in self.standings.iter().enumerate() {
            if s.ranked {
                for &g in groups.of(person as Person) {
                    self.within[g as usize].insert(key(person as Person, *s));
                }
            }
        }
        self.groups = groups;
    }

    /// A person's place in a scope, or `None` when they are not ranked there.
    pub fn place(&self, person: Person, scope: Scope, tie: TiePolicy) -> Option<Place> {
        let s = self.standing(person);
        let within = scope.is_none_or(|g| self.groups.of(person).contains(&g));
        if !s.ranked || !within {
            return None;
        }
        Some(self.ranks(scope)?.place(key(person, s), tie))
    }

    /// The first `limit` places in a scope.
    pub fn top(&self, limit: usize, scope: Scope, tie: TiePolicy) -> Vec<Place> {
        self.ranks(scope)
            .map_or_else(Vec::new, |r| r.top(limit, tie))
    }

    fn ranks(&self, scope: Scope) -> Option<&Ranks> {
        match scope {
            None => Some(&self.everyone),
            Some(g) => self.within.get(g as usize),
        }
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
        let groups = self.groups.of(person);
        if before.ranked {
            let old = key(person, before);
            self.everyone.remove(old);
            for &g in groups {
                self.within[g as usize].remove(old);
            }
        }
        if after.ranked {
            let new = key(person, after);
            self.everyone.insert(new);
            for &g in groups {
                self.within[g as usize].insert(new);
            }
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
            assert_eq!(ranks(&b.top(10, None, tie)), expected, "{tie:?}");
            for (person, rank) in &expected {
                assert_eq!(
                    b.place(*person, None, tie).unwrap().rank,
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
        assert_eq!(b.place(4, None, TiePolicy::Shared).unwrap().rank, 1);
        assert_eq!(b.place(0, None, TiePolicy::Shared).unwrap().rank, 2);
        b.add(4, -50, 4_000);
        assert_eq!(b.place(4, None, TiePolicy::Shared).unwrap().rank, 5);
        assert_eq!(b.place(0, None, TiePolicy::Shared).unwrap().rank, 1);
        assert_eq!(b.len(None), 5);
    }

    #[test]
    fn an_unranked_person_keeps_points_but_has_no_place_and_nobody_counts_them() {
        let mut b = board();
        b.set_ranked(0, false);
        assert_eq!(b.place(0, None, TiePolicy::Shared), None);
        assert_eq!(b.points(0), 30);
        assert_eq!(b.place(2, None, TiePolicy::Shared).unwrap().rank, 2);
        assert_eq!(b.place(2, None, TiePolicy::Dense).unwrap().rank, 2);
        b.set_ranked(0, true);
        assert_eq!(b.place(2, None, TiePolicy::Shared).unwrap().rank, 3);
        b.add(9, 100, 1);
        assert_eq!(
            b.place(9, None, TiePolicy::Shared),
            None,
            "never put on the board"
        );
        assert_eq!(b.len(None), 5);
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
        assert_eq!(loaded.top(3, None, tie), added.top(3, None, tie));
    }

    #[test]
    fn a_group_ranks_its_members_as_sorting_them_would() {
        // Group 0: people 0, 2 and 4; group 1: people 1 and 2.
        let groups = Arc::new(Groups::new(
            vec![vec![0], vec![1], vec![0, 1], vec![], vec![0]],
            2,
        ));
        for tie in [
            TiePolicy::Shared,
            TiePolicy::Dense,
            TiePolicy::EarlierAchiever,
        ] {
            let mut b = board();
            b.set_groups(groups.clone());
            b.add(4, 10, 50);
            b.add(2, -5, 3_000);
            for (group, members) in [(0, vec![0, 2, 4]), (1, vec![1, 2])] {
                let sorted = rank_among(&b, &members, tie);
                assert_eq!(b.top(10, Some(group), tie), sorted, "{tie:?} {group}");
                for place in &sorted {
                    assert_eq!(b.place(place.person, Some(group), tie), Some(*place));
                }
                assert_eq!(b.len(Some(group)), members.len());
                let total: i64 = members.iter().map(|&p| b.points(p)).sum();
                assert_eq!(b.total(Some(group)), total);
            }
            assert_eq!(b.place(3, Some(0), tie), None, "not in the group");
            b.set_ranked(0, false);
            assert_eq!(b.len(Some(0)), 2);
            assert_eq!(b.total(Some(0)), 15);
        }
    }
}
