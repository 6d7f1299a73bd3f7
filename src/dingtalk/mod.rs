//! DingTalk's side of the wire: callback crypto now; events, the OpenAPI client and Stream
//! mode join it. Formats follow shared/dingtalk/PROTOCOL.md and its test vectors.

pub mod crypto;
pub mod events;
pub mod openapi;
pub mod robot;
pub mod simulate;
