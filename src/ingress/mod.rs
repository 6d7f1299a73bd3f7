//! Ingress: what arrives from DingTalk is verified, decrypted, de-duplicated and stored,
//! and only then acknowledged. Nothing here calls DingTalk: robot answers go through the
//! outbox.

pub mod callback;
pub mod inbox_writer;
pub mod robot;
pub mod stream;

pub use callback::CallbackKeys;
pub use inbox_writer::InboxWriter;
