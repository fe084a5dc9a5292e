//! [`SipLeg`]: the phone leg of a call OpenAI answered over SIP. The
//! caller's audio goes between the caller and OpenAI (`AudioRoute::Direct`),
//! so the leg carries the call's control only: who is calling, when the
//! call has ended at OpenAI's side (told by the sideband, through
//! [`CallGone`]), and, as the call ends here, a hang-up or a transfer over
//! REST.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::task::AtomicWaker;
use qloophone_domain::ports::{AudioInbound, AudioRoute, CallInfo, EndReason, LegError};
use qloophone_domain::ports::{PhoneCommand, PhoneEvent};
use qloophone_domain::types::LegId;

use super::control::{CallControl, ControlError};

/// Whether a call has ended at OpenAI's side: set by the sideband when it
/// is refused as gone, read by the call's leg.
#[derive(Debug, Default)]
pub struct CallGone {
    gone: AtomicBool,
    waker: AtomicWaker,
}

impl CallGone {
    /// Says the call is over, waking its leg.
    pub fn set(&self) {
        self.gone.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether it is.
    pub fn is_set(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }
}

/// The phone leg of a call whose audio OpenAI handles.
pub struct SipLeg {
    /// The call's `start`, told once.
    start: Option<CallInfo>,
    call: LegId,
    gone: Arc<CallGone>,
    stopped: bool,
    control: CallControl,
    /// Where a transfer goes (`tel:+…`), when callers can be transferred.
    transfer_to: Option<String>,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl SipLeg {
    /// The leg of call `info` (whose route must be direct), ended at
    /// OpenAI's side when `gone` is set, steered through `control`.
    pub fn new(
        info: CallInfo,
        gone: Arc<CallGone>,
        control: CallControl,
        transfer_to: Option<String>,
    ) -> Self {
        debug_assert_eq!(info.audio, AudioRoute::Direct);
        Self {
            call: info.leg_id.clone(),
            start: Some(info),
            gone,
            stopped: false,
            control,
            transfer_to,
        }
    }
}

#[async_trait]
impl AudioInbound for SipLeg {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<PhoneEvent>> {
        if let Some(info) = self.start.take() {
            return Poll::Ready(Some(PhoneEvent::Start(info)));
        }
        if self.stopped {
            return Poll::Ready(None);
        }
        self.gone.waker.register(cx.waker());
        if self.gone.is_set() {
            self.stopped = true;
            return Poll::Ready(Some(PhoneEvent::Stop));
        }
        Poll::Pending
    }

    fn send(&mut self, command: PhoneCommand) -> Result<(), LegError> {
        // Nothing is played through this leg; the session sends nothing
        // on a direct route.
        tracing::debug!(?command, "nothing passes through a SIP call's leg");
        Ok(())
    }

    async fn close(&mut self, reason: EndReason) {
        let outcome = match reason {
            // It ended at OpenAI's side: nothing to do.
            EndReason::PhoneStopped | EndReason::PhoneClosed => return,
            EndReason::Transferred => match &self.transfer_to {
                Some(target) => match self.control.refer(&self.call, target).await {
                    Ok(()) => {
                        tracing::info!("caller referred to the transfer number");
                        return;
                    }
                    Err(err) => {
                        // Refer has been seen failing (protocols-2026.md
                        // §7.5): the call must not go on unsteered.
                        tracing::warn!(error = %err, "refer failed; hanging up");
                        self.control.hangup(&self.call).await
                    }
                },
                None => self.control.hangup(&self.call).await,
            },
            _ => self.control.hangup(&self.call).await,
        };
        match outcome {
            Ok(()) => tracing::info!(%reason, "call hung up"),
            Err(ControlError::Gone) => tracing::debug!(%reason, "the call had already ended"),
            Err(err) => tracing::warn!(%reason, error = %err, "hanging up failed"),
        }
    }
}
