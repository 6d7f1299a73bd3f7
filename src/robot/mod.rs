//! The jifen robot: HR, managers and employees talk to jifen in DingTalk chats. Signed
//! messages come in at `/dingtalk/robot`; commands are parsed (`command`), checked against
//! the sender's role (`roles`), carried out on the ledger (`handle`), and answered.

pub mod command;
pub mod handle;
pub mod message;
pub mod reply;
pub mod roles;
pub mod sign;
