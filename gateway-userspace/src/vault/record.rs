//! One sealed record: AES-256-GCM under a random 96-bit nonce, with the
//! format version, name, key id and binding as associated data.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use ring::{
    aead::{Aad, NONCE_LEN, Nonce},
    rand::SecureRandom as _,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Binding, SecretValue, VaultKey, key::KeyError};

/// Bumped if the record layout or the associated data ever change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedRecord {
    pub name: String,
    pub binding: Binding,
    /// The id of the key that sealed it (see [`VaultKey::id`]).
    pub key_id: String,
    /// Base64 of the 96-bit nonce.
    pub nonce: String,
    /// Base64 of the ciphertext and its 128-bit tag.
    pub ciphertext: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "the vault key does not match: this record was sealed with key {sealed}, the key in use is {given}"
    )]
    KeyMismatch { sealed: String, given: String },
    #[error(
        "the record failed authentication: it was altered, corrupted or moved from another record; it is not used"
    )]
    Authentication,
    #[error("the record is malformed ({0}); it is not used")]
    Malformed(String),
    #[error("a second record with this name; only the first is used")]
    Duplicate,
}

impl SealedRecord {
    /// Seals `value` for `name` under `binding` (already validated).
    pub fn seal(
        key: &VaultKey,
        name: &str,
        binding: &Binding,
        value: &SecretValue,
    ) -> Result<Self, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Random)?;
        let mut buffer = Zeroizing::new(value.expose().to_vec());
        key.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(name, key.id(), binding)),
                &mut *buffer,
            )
            .map_err(|_| KeyError::Random)?;
        Ok(Self {
            name: name.to_owned(),
            binding: binding.clone(),
            key_id: key.id().to_owned(),
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(&*buffer),
        })
    }

    /// The secret, if this record opens with `key` exactly as stored.
    pub fn open(&self, key: &VaultKey) -> Result<SecretValue, RecordError> {
        if self.key_id != key.id() {
            return Err(RecordError::KeyMismatch {
                sealed: self.key_id.clone(),
                given: key.id().to_owned(),
            });
        }
        let nonce: [u8; NONCE_LEN] = BASE64
            .decode(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| RecordError::Malformed("the nonce is not 12 bytes of base64".into()))?;
        let mut buffer = Zeroizing::new(
            BASE64
                .decode(&self.ciphertext)
                .map_err(|_| RecordError::Malformed("the ciphertext is not base64".into()))?,
        );
        let plain_len = key
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(&self.name, &self.key_id, &self.binding)),
                &mut buffer,
            )
            .map_err(|_| RecordError::Authentication)?
            .len();
        buffer.truncate(plain_len);
        Ok(SecretValue::from_sealed(buffer))
    }
}

/// A canonical encoding of what the record claims besides its secret:
/// JSON of a fixed tuple, with the binding's fields in declaration order.
fn associated_data(name: &str, key_id: &str, binding: &Binding) -> Vec<u8> {
    serde_json::to_vec(&("gateway-vault", FORMAT_VERSION, name, key_id, binding))
        .expect("a binding always serialises")
}
