//! DingTalk's side of the wire: callback crypto, events, the OpenAPI client, the robot and
//! Stream mode. Formats follow shared/dingtalk/PROTOCOL.md and its test vectors.

pub mod card;
pub mod crypto;
pub mod events;
pub mod openapi;
pub mod robot;
pub mod simulate;
pub mod stream;
