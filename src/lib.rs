//! jifen (积分): a DingTalk-native employee points system. Events become points through
//! configurable rules; every change is an immutable ledger entry with its explanation.
//!
//! Modules are layered along the data flow, lowest first: `domain` and `metrics` (counters);
//! `rules`, `dingtalk` (wire formats) and `runtime` (supervised workers, servers); `store`;
//! `org`, `ledger`, `badges`,
//! `leaderboard`, `ingress`; `outbox`, `export`, `honor`; `bot`, `period`; `processor`;
//! `config`; `jobs`, `web`, `manifest`; `app`, `emulator`; `demo`; `cli`. A module imports
//! only from layers below it (`tests/it/layers.rs` checks), so there are no import cycles.

pub mod app;
pub mod backtest;
pub mod badges;
pub mod bot;
pub mod cli;
pub mod config;
#[cfg(feature = "emulator")]
pub mod demo;
pub mod dingtalk;
pub mod domain;
/// DingTalk stand-in for tests and the demo; a production build can leave it out
/// (`--no-default-features`).
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod export;
pub mod honor;
pub mod ingress;
pub mod jobs;
pub mod leaderboard;
pub mod ledger;
pub mod manifest;
pub mod metrics;
pub mod org;
pub mod outbox;
pub mod period;
pub mod processor;
pub mod rules;
pub mod runtime;
pub mod store;
pub mod web;
