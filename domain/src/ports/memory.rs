//! [`CallerMemory`]: what a caller asked to be remembered, by their number.

use async_trait::async_trait;

use crate::types::{EntityId, PhoneNumber};

/// One thing a caller loves, as remembered: its id and name, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liked {
    /// Its id, still good in the tools.
    pub id: EntityId,
    /// Its name.
    pub name: String,
}

/// What a caller asked to be remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    /// What they love, newest first.
    pub likes: Vec<Liked>,
}

/// The store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the caller memory is unavailable: {0}")]
pub struct MemoryError(pub String);

/// Callers' remembered likes, kept under their number (how the store keys
/// it is its own business: never the number itself), for a while.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CallerMemory: Send + Sync {
    /// What `caller` asked to be remembered, if anything (and not expired).
    ///
    /// # Errors
    /// [`MemoryError`] when the store cannot answer.
    async fn recall(&self, caller: &PhoneNumber) -> Result<Option<Remembered>, MemoryError>;

    /// Keeps `what` for `caller`, replacing what was kept, from now for
    /// the store's time to live.
    ///
    /// # Errors
    /// [`MemoryError`] when the store cannot keep it.
    async fn remember(&self, caller: &PhoneNumber, what: &Remembered) -> Result<(), MemoryError>;

    /// Deletes what was kept for `caller` at once: `true` when there was
    /// something.
    ///
    /// # Errors
    /// [`MemoryError`] when the store cannot delete it.
    async fn forget(&self, caller: &PhoneNumber) -> Result<bool, MemoryError>;
}
