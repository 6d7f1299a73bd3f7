//! The HTTP callback crypto ("加密回调", PROTOCOL.md §a): SHA-1 signatures over the sorted
//! token, timestamp, nonce and ciphertext, and AES-256-CBC with the key and IV from the
//! EncodingAESKey. Pure: no I/O, no clock; the receiver decides what is fresh.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// DingTalk pads PKCS#7 to 32-byte blocks; the Go and Rust samples pad to 16. We emit 32 and
/// accept any pad value from 1 to 32.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LENGTH_LEN: usize = 4;

/// The EncodingAESKey's last character carries two discarded bits, usually non-zero, so the
/// key must be decoded leniently (PROTOCOL.md §a, "Key and IV").
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey must be 43 characters of base64 (A-Z, a-z, 0-9, +, /)")]
    InvalidAesKey,
    #[error("signature mismatch")]
    SignatureMismatch,
    #[error("encrypt is not valid base64")]
    InvalidBase64,
    #[error("ciphertext length is not a positive multiple of 16 bytes")]
    CiphertextLengthNotMultipleOf16,
    #[error("bad padding after decryption")]
    BadPadding,
    #[error("the length prefix points outside the decrypted message")]
    BadLengthPrefix,
    #[error("the receive id inside the message is not the one configured")]
    ReceiveIdMismatch,
    #[error("decryption gave garbage: wrong EncodingAESKey, or not a DingTalk message")]
    DecryptGarbage,
}

/// The acknowledgement DingTalk expects: exactly these four fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EncryptedReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// One callback key set: token, AES key and the receive id (corpId, appKey or suiteKey).
#[derive(Clone)]
pub struct CallbackCrypto {
    token: SecretString,
    key: [u8; 32],
    /// The first 16 bytes of the key.
    iv: [u8; 16],
    receive_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("receive_id", &self.receive_id)
            .finish_non_exhaustive()
    }
}

impl CallbackCrypto {
    pub fn new(
        token: SecretString,
        encoding_aes_key: &str,
        receive_id: &str,
    ) -> Result<Self, CryptoError> {
        let key_text = encoding_aes_key.trim();
        if key_text.len() != 43 {
            return Err(CryptoError::InvalidAesKey);
        }
        let bytes = LENIENT
            .decode(format!("{key_text}="))
            .map_err(|_| CryptoError::InvalidAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidAesKey)?;
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        Ok(CallbackCrypto {
            token,
            key,
            iv,
            receive_id: receive_id.to_string(),
        })
    }

    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// Lowercase hex SHA-1 of the four strings sorted byte-wise and joined.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.expose_secret(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        hex::encode(sha.finalize())
    }

    /// Checks the signature in constant time, then decrypts; returns the plaintext message.
    pub fn verify_and_decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(msg_signature.trim().to_ascii_lowercase().as_bytes()),
        ) {
            return Err(CryptoError::SignatureMismatch);
        }
        self.decrypt(encrypt)
    }

    /// Decrypts `encrypt` and checks its layout: random(16) ‖ length(4, big-endian) ‖
    /// message ‖ receive id ‖ padding.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let mut buf = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::InvalidBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::CiphertextLengthNotMultipleOf16);
        }
        let plain = Aes256CbcDec::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::CiphertextLengthNotMultipleOf16)?;
        // A specific layout error is only meaningful when the bytes are recognisably a
        // callback plaintext (the message starts where the layout says); otherwise the key
        // is wrong and the whole block is noise.
        let message_start = RANDOM_LEN + LENGTH_LEN;
        let recognisable = plain.len() > message_start
            && (plain[message_start] == b'{' || plain[message_start..].starts_with(b"success"));
        self.parse_plaintext(plain).map_err(|e| {
            if recognisable {
                e
            } else {
                CryptoError::DecryptGarbage
            }
        })
    }

    fn parse_plaintext(&self, plain: &[u8]) -> Result<String, CryptoError> {
        let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
        if pad == 0
            || pad > PAD_BLOCK
            || pad > plain.len()
            || plain[plain.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(CryptoError::BadPadding);
        }
        let content = &plain[..plain.len() - pad];
        let header = RANDOM_LEN + LENGTH_LEN;
        if content.len() < header {
            return Err(CryptoError::BadLengthPrefix);
        }
        let length_bytes: [u8; 4] = content[RANDOM_LEN..header]
            .try_into()
            .map_err(|_| CryptoError::BadLengthPrefix)?;
        let length = u32::from_be_bytes(length_bytes) as usize;
        let rest = &content[header..];
        if length > rest.len() {
            return Err(CryptoError::BadLengthPrefix);
        }
        let (message, receive_id) = rest.split_at(length);
        if receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::ReceiveIdMismatch);
        }
        String::from_utf8(message.to_vec()).map_err(|_| CryptoError::DecryptGarbage)
    }

    /// Encrypts `message` with the given 16-byte random prefix (for reproducible tests).
    pub fn encrypt_with_random(&self, message: &str, random: &[u8; RANDOM_LEN]) -> String {
        let mut plain = Vec::with_capacity(message.len() + self.receive_id.len() + 64);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let len = plain.len();
        #[allow(
            clippy::expect_used,
            reason = "the plaintext was padded to whole blocks just above"
        )]
        let cipher = Aes256CbcEnc::new(&self.key.into(), &self.iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .expect("the plaintext was padded to whole blocks above");
        STANDARD.encode(cipher)
    }

    /// Encrypts `message` with a fresh alphanumeric random prefix, as DingTalk does.
    pub fn encrypt(&self, message: &str) -> String {
        use rand::Rng;
        let mut random = [0u8; RANDOM_LEN];
        let mut rng = rand::thread_rng();
        for byte in &mut random {
            *byte = rng.sample(rand::distributions::Alphanumeric);
        }
        self.encrypt_with_random(message, &random)
    }

    /// The signed, encrypted reply carrying `message` (DingTalk wants `success`).
    pub fn reply(&self, message: &str, time_stamp: &str, nonce: &str) -> EncryptedReply {
        let encrypt = self.encrypt(message);
        EncryptedReply {
            msg_signature: self.signature(time_stamp, nonce, &encrypt),
            time_stamp: time_stamp.to_string(),
            nonce: nonce.to_string(),
            encrypt,
        }
    }
}

/// An HMAC-SHA256 keyed with `key`. HMAC takes keys of any length (a long one is hashed
/// first), so this cannot fail; the `Result` of `new_from_slice` is for other MACs.
pub fn hmac_sha256(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}
