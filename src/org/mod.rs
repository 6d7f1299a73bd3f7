//! The organisation as DingTalk knows it: people and departments read from the address book
//! and stored, so rules with a department scope, rankings and bot roles see today's org.

pub mod sync;

pub use sync::{SyncError, SyncReport, department_tree, employee_from, sync_directory};
