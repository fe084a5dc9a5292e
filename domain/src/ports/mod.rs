//! The ports: every way the domain reaches the outside world, one file per
//! port, each with the types it speaks.
//!
//! - [`phone`]: [`AudioInbound`], the caller's leg of one call.
//! - [`model`]: [`VoiceModel`] and [`ModelSession`], the voice model.
//! - [`taste`]: [`TasteGraph`], entities and recommendations.
//! - [`observers`]: [`EventSink`] and the [`CallEvent`]s it hears.
//! - [`clock`]: [`Clock`], wall-clock time.
//! - [`texts`]: [`TextMessages`], a text to the caller.
//! - [`memory`]: [`CallerMemory`], what a caller asked to be remembered.
//!
//! Each trait is named by the role it plays, never by a technology.
//! Adapters implement them; tests use the mockall doubles generated here
//! (enable the `mocks` feature to use them from another crate).

pub mod clock;
pub mod memory;
pub mod model;
pub mod observers;
pub mod phone;
pub mod taste;
pub mod texts;
pub mod upstream;

pub use clock::*;
pub use memory::*;
pub use model::*;
pub use observers::*;
pub use phone::*;
pub use taste::*;
pub use texts::*;

/// A leg that failed to carry a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    /// The connection is gone.
    #[error("the connection is closed")]
    Closed,
    /// The peer has not taken what was already sent, and the leg's
    /// outbound queue is full: the leg cannot keep up.
    #[error("the peer is not taking what is sent; the outbound queue is full")]
    Backlogged,
    /// Writing failed for another reason.
    #[error("write failed: {0}")]
    Write(String),
}
