//! The domain vocabulary shared by rules, ledger and store: events that happened, the calendar
//! they are counted in, and the people they happen to. Nothing here does I/O.

pub mod api_key;
pub mod appeal;
pub mod badge;
pub mod calendar;
pub mod entry;
pub mod event;
pub mod failure;
pub mod lang;
pub mod org;
pub mod reward;
pub mod schedule;

pub use appeal::{Appeal, AppealStatus, Verdict};
pub use badge::{Announce, Badge, BadgeBook, Challenge, Criterion, Level};
pub use calendar::{Calendar, Closable, Month, Period, PeriodKind};
pub use entry::{
    Account, Deltas, Entry, EntryKind, Explanation, MAX_REASON_CHARS, NewEntry, Totals,
};
pub use event::{DomainEvent, EVENT_SCHEMAS, EventSchema, ExternalEventType, FieldType};
pub use failure::Failure;
pub use lang::Lang;
pub use org::{Department, Employee};
pub use reward::{
    Catalogue, PersonLimit, REDEMPTION_CATEGORY, REDEMPTION_FIELD, REDEMPTION_FORM, Redemption,
    RedemptionStatus, RedemptionStep, Reward,
};
