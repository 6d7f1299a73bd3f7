//! Every integration test, in one binary: linking one test executable instead of one per
//! file is most of what a fresh `cargo test` costs. Each module is one area; `support`
//! gives them test databases on both backends and a server on port 0.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

mod appeals;
mod backtest;
mod badges;
mod browser;
mod callback_crypto;
mod callback_receiver;
mod cli;
mod config;
mod crash_recovery;
mod dingtalk_fixtures;
mod end_to_end;
mod http_api;
mod jobs;
mod layers;
mod leaderboard;
mod ledger_properties;
mod micro_app;
mod migrations;
mod openapi_client;
mod org;
mod outbox;
mod period;
mod processor;
mod recognition;
mod replicas;
mod rewards;
mod robot;
mod robot_sign;
mod rules_file;
mod store_conformance;
mod stream;
mod write_api;
