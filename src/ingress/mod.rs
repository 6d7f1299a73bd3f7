//! Ingress: what arrives from DingTalk is verified, decrypted, de-duplicated and stored in
//! the inbox, and only then acknowledged. Nothing here calls DingTalk.

pub mod callback;
pub mod inbox_writer;

pub use callback::CallbackKeys;
pub use inbox_writer::InboxWriter;
