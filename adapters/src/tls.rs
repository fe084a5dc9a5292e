//! TLS both ways: the certificate this server may present on its port
//! (HTTPS and `wss://` without a terminator in front), and the roots it
//! trusts when it connects out (the model's WebSocket, Qloo, Twilio's and
//! OpenAI's REST, report endpoints).
//!
//! rustls with the `ring` provider named explicitly, so no other crate's
//! choice of default provider can change ours. The client configuration is
//! built once at start and shared by every connection: the built-in
//! (Mozilla) roots, plus the operator's own CA file when there is one (an
//! egress proxy that inspects TLS, a private model gateway, a test peer).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// `[tls]`: what this server presents and what it trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// A PEM certificate chain, leaf first. With `key_file`, the port
    /// serves HTTPS and `wss://` only (`PUBLIC_URL` should then be
    /// `https://…`).
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for outbound connections,
    /// beside the built-in roots.
    pub ca_file: Option<PathBuf>,
}

/// Why TLS could not be set up: the server does not start with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    /// Only one of `tls.cert_file` and `tls.key_file` is set.
    #[error("tls.cert_file and tls.key_file go together: set both or neither")]
    HalfPair,
    /// rustls refused the configuration (a key that does not match, say).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |why: String| TlsError::File {
        path: path.to_owned(),
        why,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(err.to_string()))?;
    if certificates.is_empty() {
        return Err(unreadable("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

/// The roots trusted for outbound connections, built once.
#[derive(Clone)]
pub struct Trust {
    /// The CA file's certificates, as reqwest takes them.
    extra: Vec<reqwest::Certificate>,
    client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("extra_roots", &self.extra.len())
            .finish_non_exhaustive()
    }
}

impl Trust {
    /// The built-in roots and, with `tls.ca_file`, its certificates.
    ///
    /// # Errors
    /// When the CA file cannot be read or holds a certificate rustls
    /// refuses as a root.
    pub fn load(settings: &TlsSettings) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut extra = Vec::new();
        if let Some(path) = &settings.ca_file {
            for certificate in certificates(path)? {
                // Refused here, at start, rather than trusted by the
                // WebSockets and silently not by the HTTP clients.
                extra.push(reqwest::Certificate::from_der(&certificate).map_err(|err| {
                    TlsError::File {
                        path: path.clone(),
                        why: err.to_string(),
                    }
                })?);
                roots.add(certificate)?;
            }
        }
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            extra,
            client: Arc::new(client),
        })
    }

    /// The built-in roots only.
    ///
    /// # Panics
    /// Never: the built-in roots and protocol versions are always valid.
    #[must_use]
    pub fn builtin() -> Self {
        Self::load(&TlsSettings::default()).expect("the built-in roots are valid")
    }

    /// `builder` trusting the extra roots too.
    pub fn http(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.extra
            .iter()
            .cloned()
            .fold(builder, |builder, certificate| {
                builder.add_root_certificate(certificate)
            })
    }

    /// The connector every outbound WebSocket uses: one shared
    /// configuration instead of tungstenite's own, which it would build
    /// again (every root parsed) for each connection.
    pub(crate) fn websocket(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(self.client.clone())
    }
}

/// What wraps each accepted connection when the port serves TLS.
#[derive(Clone)]
pub struct Acceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl Acceptor {
    /// The server's side of the handshake on `stream`.
    pub(crate) fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> tokio_rustls::Accept<tokio::net::TcpStream> {
        self.0.accept(stream)
    }
}

/// The acceptor the server wraps each connection in, when `cert_file` and
/// `key_file` are set.
///
/// # Errors
/// When only one of them is set, either cannot be read, or the key does
/// not match the certificate.
pub fn acceptor(settings: &TlsSettings) -> Result<Option<Acceptor>, TlsError> {
    let (cert_file, key_file) = match (&settings.cert_file, &settings.key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err(TlsError::HalfPair),
    };
    let chain = certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|err| TlsError::File {
        path: key_file.clone(),
        why: err.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Acceptor(tokio_rustls::TlsAcceptor::from(Arc::new(
        config,
    )))))
}
