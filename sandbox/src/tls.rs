//! TLS for the simulated peers, as operators run the real ones: a peer
//! that serves `wss://` with a certificate from PEM files, and a client
//! that trusts only a given CA (the one those certificates were made
//! from, at run time, by the test or the benchmark).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

fn certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|err| invalid(path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(path, err))?;
    if certificates.is_empty() {
        return Err(invalid(path, "no PEM certificate in it"));
    }
    Ok(certificates)
}

/// A peer's side of TLS: its certificate chain and key.
#[derive(Clone)]
pub struct ServerTls(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Serves the chain in `cert` (PEM, leaf first) with the key in `key`.
    ///
    /// # Errors
    /// When either file cannot be read or the key does not fit.
    pub fn from_pem_files(cert: &Path, key: &Path) -> io::Result<Self> {
        let chain = certificates(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|err| invalid(key, err))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        Ok(Self(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    /// The handshake on an accepted connection.
    pub(crate) fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> tokio_rustls::Accept<tokio::net::TcpStream> {
        self.0.accept(stream)
    }
}

/// A client trusting only the CA certificates in `ca_file`.
///
/// # Errors
/// When the file cannot be read or holds no certificate rustls takes.
pub fn client_trusting(ca_file: &Path) -> io::Result<tokio_tungstenite::Connector> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(ca_file)? {
        roots
            .add(certificate)
            .map_err(|err| invalid(ca_file, err))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}
