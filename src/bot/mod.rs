//! The jifen robot: HR, managers and employees talk to jifen in DingTalk chats. Signed
//! messages come in at `/dingtalk/robot` and wait in the inbox; the processor hands each to
//! the bot, which parses the command (`command`), checks the sender's role (`roles`),
//! carries it out on the ledger (`handle`) and answers (`reply`).

pub mod command;
pub mod handle;
pub mod reply;
pub mod roles;
