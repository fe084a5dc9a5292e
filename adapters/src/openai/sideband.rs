//! The sideband of a call OpenAI answered over SIP (protocols-2026.md
//! §7.4): the Realtime API's WebSocket at `…/v1/realtime?call_id=…`,
//! steering a call whose audio OpenAI plays and stops itself. The same
//! events and codec as a Media Streams call's session; what differs is in
//! its [`ModelTraits`] (the model's side stops itself when talked over)
//! and in how it ends: a sideband refused as gone means the call is over,
//! which the call's leg is told through [`CallGone`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qloophone_domain::ports::{CallInfo, Interruption, ModelError, ModelSession, ModelTraits};
use qloophone_domain::ports::{SessionSetup, VoiceModel};

use super::client::OpenAiSession;
use super::settings::OpenAiSettings;
use super::wire;
use crate::secret::Secret;
use crate::sip::CallGone;
use crate::tls::Trust;

/// How long an attempt refused as gone waits for the call to end by its
/// leg before it fails.
const GONE_GRACE: Duration = Duration::from_secs(2);

/// How every call's sideband is opened.
#[derive(Debug, Clone)]
pub struct Sidebands {
    api_key: Secret,
    trust: Trust,
    realtime_url: String,
    session_update: Arc<str>,
    ping_every: Duration,
    write_timeout: Duration,
}

impl Sidebands {
    /// Sidebands per `settings`, each confirming the session `setup`
    /// configures, pinged when quiet for `ping_every`.
    pub fn new(
        settings: &OpenAiSettings,
        setup: &SessionSetup,
        ping_every: Duration,
        write_timeout: Duration,
        trust: Trust,
    ) -> Self {
        Self {
            api_key: settings.api_key.clone().unwrap_or_else(|| Secret::new("")),
            trust,
            realtime_url: settings.realtime_url.clone(),
            session_update: wire::sip_session_update(setup, settings, &settings.session_extras())
                .into(),
            ping_every: ping_every.max(Duration::from_millis(1)),
            write_timeout,
        }
    }

    /// The voice model of one call: its sideband, reopened as often as the
    /// call needs, telling `gone` when OpenAI says the call is over.
    ///
    /// # Errors
    /// When the Realtime URL does not parse.
    pub fn for_call(
        &self,
        call_id: &str,
        gone: Arc<CallGone>,
    ) -> Result<Sideband, url::ParseError> {
        let mut url = url::Url::parse(&self.realtime_url)?;
        // Only the call's id: the model was named when the call was
        // accepted (protocols-2026.md §7.4).
        url.query_pairs_mut().append_pair("call_id", call_id);
        Ok(Sideband {
            endpoint: url.into(),
            sidebands: self.clone(),
            gone,
        })
    }
}

/// One SIP call's sideband, as its voice model.
#[derive(Debug)]
pub struct Sideband {
    endpoint: String,
    sidebands: Sidebands,
    gone: Arc<CallGone>,
}

/// How a call OpenAI plays runs: OpenAI stops its own audio when the
/// caller speaks and keeps track of what was heard; nothing is queued
/// here to clear.
pub const SIP_TRAITS: ModelTraits = ModelTraits {
    interruption: Interruption::ModelStops {
        clear_above_ms: u64::MAX,
    },
    confirms_responses: true,
};

#[async_trait]
impl VoiceModel for Sideband {
    fn traits(&self) -> ModelTraits {
        SIP_TRAITS
    }

    async fn open(
        &self,
        _call: &CallInfo,
        _setup: &SessionSetup,
        context: Option<Arc<str>>,
    ) -> Result<Box<dyn ModelSession>, ModelError> {
        let socket = match super::connect(
            &self.endpoint,
            &self.sidebands.api_key,
            &self.sidebands.trust,
        )
        .await
        {
            Ok(socket) => socket,
            Err(ModelError::Rejected(why)) if why.contains("404") => {
                // No such call any more: the caller hung up, or it was
                // ended. The leg says so, and the call ends as the
                // caller's; this attempt is dropped with it meanwhile
                // (were the call to go on, it is a passing failure).
                tracing::info!("the call has ended at OpenAI's side");
                self.gone.set();
                tokio::time::sleep(GONE_GRACE).await;
                return Err(ModelError::Connect("the call has ended".into()));
            }
            Err(err) => return Err(err),
        };
        let session = OpenAiSession::start(
            socket,
            &self.sidebands.session_update,
            context,
            self.sidebands.write_timeout,
            self.sidebands.ping_every,
        )
        .await?;
        tracing::debug!("sideband opened");
        Ok(Box::new(session))
    }
}
