//! [`TextMessages`]: sending a caller a text message (the picks of their
//! call, when they asked for them).

use async_trait::async_trait;

use crate::types::PhoneNumber;

/// One text to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// Who it goes to: the number that is calling, never another.
    pub to: PhoneNumber,
    /// The number the caller dialled, when known: the sender unless the
    /// adapter is configured with one of its own.
    pub from: Option<PhoneNumber>,
    /// What it says.
    pub body: String,
}

/// A text the service took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextReceipt {
    /// The service's id for it.
    pub id: String,
    /// Parts it is billed as, when the service said.
    pub segments: Option<u32>,
}

/// Why a text was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFailure {
    /// The caller asked this sender never to text them (they replied STOP).
    OptedOut,
    /// The number cannot take texts (a landline, unroutable, invalid).
    NotTextable,
    /// The service refused the sender or the account (a configuration to
    /// fix: credentials, a sender that cannot text).
    Refused,
    /// The service could not be reached, or was too busy: nothing was sent.
    Unavailable,
    /// The request went out and no answer came: it may have been sent, so
    /// it is never sent again.
    MaybeSent,
}

impl TextFailure {
    /// A short, stable name for observers and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OptedOut => "opted_out",
            Self::NotTextable => "not_textable",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::MaybeSent => "maybe_sent",
        }
    }
}

/// Sends text messages.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TextMessages: Send + Sync {
    /// Sends one text. An adapter may try again a request that never
    /// reached the service, but never one that may have been taken.
    ///
    /// # Errors
    /// A [`TextFailure`] saying why nothing was (or may not have been)
    /// sent.
    async fn send(&self, message: TextMessage) -> Result<TextReceipt, TextFailure>;
}
