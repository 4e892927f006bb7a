//! Access control (SPEC.md section 10) with real TLS clients: `--web.config.file`
//! in the exporter-toolkit format, certificates made at test time by rcgen, a
//! rustls client (and a hand-made TLS 1.1 hello) against the real daemon.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::util::{base_config, binary, wait_until, Daemon};

/// A CA and its key.
struct Authority {
    cert: Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Authority { cert, key }
    }

    /// A certificate for 127.0.0.1 (server) or a client, written as PEM files
    /// `<name>.crt` and `<name>.key` in `dir`.
    fn issue(&self, dir: &Path, name: &str, client: bool) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (crt, pem_key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem_key, key.serialize_pem()).unwrap();
        (crt, pem_key)
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.crt"));
        std::fs::write(&path, self.cert.pem()).unwrap();
        path
    }
}

/// What a TLS client got: an HTTP status, or a failed handshake.
#[derive(Debug, PartialEq)]
enum Got {
    Status(u16, String),
    Failed(String),
}

/// GET `path` over TLS, trusting `ca`, with an optional client certificate and
/// basic-auth credentials.
fn get(
    address: &str,
    path: &str,
    ca: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    auth: Option<(&str, &str)>,
) -> Got {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((crt, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(crt)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some((user, password)) = auth {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    if let Err(e) = tls.write_all(request.as_bytes()) {
        return Got::Failed(e.to_string());
    }
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // The server closing without close_notify after its answer is fine.
        Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Got::Failed(e.to_string()),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(status) => Got::Status(status, text),
        None => Got::Failed(format!("no HTTP answer: {text:?}")),
    }
}

fn status(got: &Got) -> u16 {
    match got {
        Got::Status(s, _) => *s,
        Got::Failed(_) => 0,
    }
}

/// A TLS 1.1 ClientHello (legacy version 3.2, no supported_versions extension,
/// two TLS 1.0-era suites): a server that serves only TLS 1.2 and up refuses it.
fn tls11_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

fn healthcheck(address: &str, args: &[&str], password: Option<&str>) -> bool {
    let mut cmd = Command::new(binary());
    cmd.args(["healthcheck", "--address", address]).args(args);
    match password {
        Some(p) => cmd.env("DRIFT_EXPORTER_HEALTHCHECK_PASSWORD", p),
        None => cmd.env_remove("DRIFT_EXPORTER_HEALTHCHECK_PASSWORD"),
    };
    cmd.stderr(std::process::Stdio::null())
        .status()
        .expect("healthcheck runs")
        .success()
}

#[test]
fn tls_client_certificates_and_basic_auth_guard_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path();
    let ca = Authority::new("drift-e2e-ca");
    let other = Authority::new("someone-else");
    let ca_file = ca.write(pki, "ca");
    ca.issue(pki, "server", false);
    let client = ca.issue(pki, "client", true);
    let stranger = other.issue(pki, "stranger", true);
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = pki.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS12\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    )
    .unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--web.config.file")
        .arg(&web);
    // The readiness wait of the test harness speaks plain HTTP: it sees the
    // TLS port answer nothing useful, so wait here instead.
    let daemon = Daemon::spawn_unready(cmd);
    let address = daemon.address.clone();
    let right = Some(("prometheus", "s3cret"));
    let ready = wait_until(Duration::from_secs(60), || {
        status(&get(&address, "/readyz", &ca_file, Some(&client), right)) == 200
    });
    assert!(ready, "never ready over TLS");

    // The right certificate and password: every endpoint answers.
    for path in ["/metrics", "/healthz", "/api/v1/drift"] {
        let got = get(&address, path, &ca_file, Some(&client), right);
        assert!(matches!(status(&got), 200 | 503), "{path}: {got:?}");
    }
    let metrics = get(&address, "/metrics", &ca_file, Some(&client), right);
    assert_eq!(status(&metrics), 200);
    // A wrong or missing password: 401 with the challenge, on every endpoint.
    for auth in [
        Some(("prometheus", "wrong")),
        Some(("nobody", "s3cret")),
        None,
    ] {
        for path in ["/metrics", "/healthz", "/ingest"] {
            let got = get(&address, path, &ca_file, Some(&client), auth);
            let Got::Status(401, text) = &got else {
                panic!("{path} with {auth:?}: {got:?}");
            };
            assert!(
                text.to_ascii_lowercase()
                    .contains("www-authenticate: basic"),
                "{text}"
            );
        }
    }
    // No client certificate, or one from another CA: the handshake fails.
    for cert in [None, Some(&stranger)] {
        let got = get(&address, "/metrics", &ca_file, cert, right);
        assert!(matches!(got, Got::Failed(_)), "{cert:?}: {got:?}");
    }
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = crate::util::request(&address, "GET", "/metrics", None, b"");
    assert!(plain.is_none_or(|r| r.status != 200));
    // TLS 1.1 is refused with an alert record.
    let mut old = TcpStream::connect(&address).unwrap();
    old.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    old.write_all(&tls11_hello()).unwrap();
    let mut answer = [0u8; 7];
    let n = old.read(&mut answer).unwrap_or(0);
    assert!(
        n >= 1 && answer[0] == 0x15,
        "expected a TLS alert, got {:?}",
        &answer[..n]
    );

    // healthcheck talks to the protected daemon with the same credentials.
    let cert_args = [
        "--tls",
        "--tls.cert-file",
        client.0.to_str().unwrap(),
        "--tls.key-file",
        client.1.to_str().unwrap(),
        "--basic-auth.username",
        "prometheus",
    ];
    assert!(healthcheck(&address, &cert_args, Some("s3cret")));
    assert!(!healthcheck(&address, &cert_args, Some("wrong")));
    assert!(!healthcheck(&address, &["--tls"], None));
    assert!(
        !healthcheck(&address, &[], None),
        "plain HTTP to a TLS port"
    );

    // A changed file applies to new connections: a new password.
    let new_hash = bcrypt::hash("n3w", 4).unwrap();
    let text = std::fs::read_to_string(&web)
        .unwrap()
        .replace(&hash, &new_hash);
    std::fs::write(&web, text).unwrap();
    let switched = wait_until(Duration::from_secs(10), || {
        status(&get(
            &address,
            "/healthz",
            &ca_file,
            Some(&client),
            Some(("prometheus", "n3w")),
        )) == 200
    });
    assert!(switched, "the changed web config was not applied");
    assert_eq!(
        status(&get(&address, "/healthz", &ca_file, Some(&client), right)),
        401
    );
    // A broken change is ignored: the last good file stays in force.
    std::fs::write(&web, "tls_server_config: [broken\n").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        status(&get(
            &address,
            "/healthz",
            &ca_file,
            Some(&client),
            Some(("prometheus", "n3w"))
        )),
        200
    );
    daemon.stop();
}

#[test]
fn a_broken_web_config_stops_the_start_with_its_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let config = base_config(dir.path(), "", "");
    let out = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
        .arg(&web)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web.yml") && stderr.contains("missing.crt"),
        "{stderr}"
    );
    // validate-config checks it too.
    let body = std::fs::read_to_string(&config).unwrap()
        + &format!("\n[server]\nweb_config_file = \"{}\"\n", web.display());
    std::fs::write(&config, body).unwrap();
    let out = Command::new(binary())
        .args(["validate-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.crt"));
}
