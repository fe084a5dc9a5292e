//! TLS as operators run it: the model's WebSocket over `wss://` with a
//! CA the operator names (`tls.ca_file`), and the server's own port
//! serving HTTPS and `wss://` (`tls.cert_file`, `tls.key_file`). The
//! certificates are made for each test: a CA, and a leaf for 127.0.0.1
//! it signs.

use std::path::PathBuf;

use qloophone::config::Config;
use qloophone::startup::Application;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::load::{DuplexTls, assert_every_frame_relayed, duplex_run};

/// A CA and a leaf for 127.0.0.1 in PEM files.
struct Certificates {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificates {
    fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Self {
            ca: write("ca.pem", ca.pem()),
            cert: write("cert.pem", leaf.pem()),
            key: write("key.pem", key.serialize_pem()),
            _dir: dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_leg_runs_over_tls_with_the_operators_ca() {
    let certificates = Certificates::make();
    let report = duplex_run(&DuplexTls {
        model: Some((certificates.cert.clone(), certificates.key.clone())),
        ca_file: Some(certificates.ca.clone()),
        ..DuplexTls::default()
    })
    .await;
    assert_every_frame_relayed(&report, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_legs_run_over_tls_the_server_serving_it_itself() {
    let certificates = Certificates::make();
    let report = duplex_run(&DuplexTls {
        model: Some((certificates.cert.clone(), certificates.key.clone())),
        server: Some((certificates.cert.clone(), certificates.key.clone())),
        ca_file: Some(certificates.ca.clone()),
    })
    .await;
    assert_every_frame_relayed(&report, 3);
}

/// Without the operator's CA the model's certificate is not trusted: no
/// call reaches it, and each caller is told so rather than left hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_whose_certificate_is_not_trusted_gets_no_call() {
    let certificates = Certificates::make();
    let report = duplex_run(&DuplexTls {
        model: Some((certificates.cert.clone(), certificates.key.clone())),
        ..DuplexTls::default()
    })
    .await;
    assert_eq!(report.connected, 0, "{}", report.summary());
    assert_eq!(report.uplink.received, 0, "{}", report.summary());
    assert_eq!(report.failures.len(), 3, "{}", report.summary());
    for failure in &report.failures {
        assert!(failure.contains("the server ended the call"), "{failure}");
    }
}

/// The port serving TLS answers HTTPS to a client trusting the CA, and
/// nothing to one speaking plain HTTP.
#[tokio::test]
async fn the_port_serves_https_and_refuses_plain_http() {
    let certificates = Certificates::make();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.cache.snapshot = String::new();
    config.qloo.api_log = String::new();
    config.server.public_url = format!("https://{addr}");
    config.tls.cert_file = Some(certificates.cert.clone());
    config.tls.key_file = Some(certificates.key.clone());
    let app = Application::builder(listener, config).build().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certificates.ca).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = trusting
        .get(format!("https://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let plain = reqwest::get(format!("http://{addr}/health")).await;
    assert!(plain.is_err(), "{plain:?}");
    let untrusting = reqwest::get(format!("https://{addr}/health")).await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    let _ = stop.send(());
    server.await.unwrap();
}

#[test]
fn half_a_certificate_pair_or_an_unreadable_file_stops_the_start() {
    let certificates = Certificates::make();
    let config = |cert: Option<PathBuf>, key: Option<PathBuf>, ca: Option<PathBuf>| {
        let mut config = Config::default();
        config.cache.snapshot = String::new();
        config.qloo.api_log = String::new();
        config.tls.cert_file = cert;
        config.tls.key_file = key;
        config.tls.ca_file = ca;
        config
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let build = |config: Config| {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            Application::builder(listener, config)
                .build()
                .map(|_| ())
                .map_err(|err| format!("{err:#}"))
        })
    };
    let half = build(config(Some(certificates.cert.clone()), None, None)).unwrap_err();
    assert!(half.contains("set both or neither"), "{half}");
    let missing = build(config(None, None, Some("/nonexistent/ca.pem".into()))).unwrap_err();
    assert!(missing.contains("tls.ca_file"), "{missing}");
    // A key file given as the CA: no certificate in it.
    let not_a_ca = build(config(None, None, Some(certificates.key.clone()))).unwrap_err();
    assert!(not_a_ca.contains("no PEM certificate"), "{not_a_ca}");
    assert!(build(config(None, None, Some(certificates.ca.clone()))).is_ok());
}
