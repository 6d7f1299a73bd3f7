//! jifen (积分): a DingTalk-native employee points system. Events become points through
//! configurable rules; every change is an immutable ledger entry with its explanation.

pub mod app;
pub mod bot;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dingtalk;
pub mod domain;
pub mod emulator;
pub mod export;
pub mod honor;
pub mod ingress;
pub mod jobs;
pub mod leaderboard;
pub mod ledger;
pub mod manifest;
pub mod org;
pub mod outbox;
pub mod period;
pub mod processor;
pub mod rules;
pub mod store;
pub mod web;
