//! Bodies read from peers, within a limit: a peer answering with more
//! than any real answer holds is cut off, not buffered whole.

use bytes::{Bytes, BytesMut};

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It was longer than the limit.
    #[error("the answer is longer than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Reading it failed.
    #[error("reading the answer failed: {0}")]
    Read(#[from] reqwest::Error),
}

/// Reads `response`'s body, refusing one longer than `limit` bytes (by
/// its declared length at once, else as it arrives).
///
/// # Errors
/// [`BodyError::TooLarge`] past the limit, [`BodyError::Read`] when the
/// connection fails.
pub async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
