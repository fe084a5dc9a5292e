//! The caller memory ([`CallerMemory`]): callers' remembered likes under a
//! keyed hash of their number (HMAC-SHA256 with `memory.secret`), never
//! the number itself, for `memory.ttl_secs`. In a file ([`FileMemory`]),
//! or in Redis when the instances share one ([`RedisMemory`]).
//!
//! [`CallerMemory`]: qloophone_domain::ports::CallerMemory

mod file;
mod redis;

pub use file::FileMemory;
pub use redis::RedisMemory;

use hmac::{Hmac, KeyInit, Mac};
use qloophone_domain::EntityId;
use qloophone_domain::PhoneNumber;
use qloophone_domain::ports::{Liked, Remembered};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::Secret;

/// `[memory]`: remembering callers who ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySettings {
    /// `MEMORY_SECRET`: the key of the hash callers are kept under. Unset:
    /// no caller is remembered (and the tools are not offered).
    pub secret: Option<Secret>,
    /// How long a caller's likes are kept after they last said yes, in
    /// seconds (180 days).
    pub ttl_secs: u64,
    /// Where they are kept without Redis; empty: in memory only (lost at
    /// restart).
    pub file: String,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            secret: None,
            ttl_secs: 180 * 24 * 3600,
            file: "memory/callers.json".to_owned(),
        }
    }
}

/// Turns a caller's number into the name they are kept under.
#[derive(Clone)]
pub struct Keyer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyer(..)")
    }
}

impl Keyer {
    /// Hashing with `secret`.
    pub fn new(secret: &Secret) -> Self {
        Self {
            key: secret.expose().as_bytes().to_vec(),
        }
    }

    /// The hex HMAC-SHA256 of the number: the same on every instance with
    /// the same secret, and no way back to the number without it.
    pub fn key(&self, caller: &PhoneNumber) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"qloophone caller memory v1\0");
        mac.update(caller.expose().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// One caller's record as stored: the likes (id, name) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) likes: Vec<(String, String)>,
    pub(crate) stored_at_ms: u64,
}

impl Record {
    pub(crate) fn of(what: &Remembered, stored_at_ms: u64) -> Self {
        Self {
            likes: what
                .likes
                .iter()
                .map(|l| (l.id.as_str().to_owned(), l.name.clone()))
                .collect(),
            stored_at_ms,
        }
    }

    /// What it holds; likes whose id no longer parses are left out.
    pub(crate) fn remembered(&self) -> Remembered {
        Remembered {
            likes: self
                .likes
                .iter()
                .filter_map(|(id, name)| {
                    Some(Liked {
                        id: EntityId::parse(id).ok()?,
                        name: name.clone(),
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_kept_under_a_keyed_hash() {
        let number = PhoneNumber::parse("+15550100777").unwrap();
        let a = Keyer::new(&Secret::new("a-secret-of-sixteen+"));
        let b = Keyer::new(&Secret::new("another-secret-of-16"));
        let key = a.key(&number);
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(key, a.key(&number), "stable");
        assert_ne!(key, b.key(&number), "keyed: another secret, another name");
        assert_ne!(key, a.key(&PhoneNumber::parse("+15550100778").unwrap()));
        assert!(!key.contains("5550100777"));
        assert_eq!(format!("{a:?}"), "Keyer(..)");
    }
}
