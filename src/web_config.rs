//! `--web.config.file` (SPEC.md section 10): the YAML file of Prometheus'
//! exporter-toolkit, so one file format protects every exporter of a host.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative to this file's folder
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! [`WebConfig::load`] reads and checks the file and builds the rustls server
//! config and the user table ([`WebSecurity`]); [`WebConfigFile`] re-reads it when
//! it changes (as the toolkit does), keeping the last good one when the new one
//! is broken. TLS is rustls: versions 1.2 and 1.3 only, so a client offering
//! TLS 1.0 or 1.1 fails its handshake whatever `min_version` says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A web config that cannot be used; names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file (or a file it names) cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid YAML, or not the expected keys.
    #[error("{path}: {message}")]
    Parse {
        /// The web config file.
        path: PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
    /// A key with a value that cannot be used.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The web config file.
        path: PathBuf,
        /// The key, e.g. `tls_server_config.client_ca_file`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    // Accepted by the toolkit; refused here with a message rather than ignored.
    cipher_suites: Option<serde::de::IgnoredAny>,
    curve_preferences: Option<serde::de::IgnoredAny>,
    prefer_server_cipher_suites: Option<serde::de::IgnoredAny>,
    client_allowed_sans: Option<serde::de::IgnoredAny>,
}

/// The file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFileText {
    tls_server_config: Option<TlsServerConfig>,
    basic_auth_users: Option<HashMap<String, String>>,
    http_server_config: Option<serde::de::IgnoredAny>,
}

/// `client_auth_type`, as the toolkit names Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked for (the default).
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified.
    RequireAnyClientCert,
    /// Verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    /// Required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(text: &str) -> Option<ClientAuth> {
        Some(match text {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

/// What a listener enforces: TLS (with its client-certificate mode) and basic
/// auth. The default enforces nothing (no `--web.config.file`).
#[derive(Clone, Default)]
pub struct WebSecurity {
    /// The TLS server config; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User -> bcrypt hash; empty: no basic auth.
    users: Arc<HashMap<String, String>>,
    /// Credentials already verified (user, SHA-256 of the password): bcrypt
    /// costs tens of milliseconds per check, and Prometheus sends the same
    /// credentials every scrape, so the toolkit caches them too.
    verified: Arc<Mutex<Verified>>,
}

impl std::fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSecurity")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.len())
            .finish()
    }
}

/// (user, SHA-256 of the password) -> whether bcrypt accepted it.
type Verified = HashMap<(String, [u8; 32]), bool>;

/// The answer to a request's `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorized {
    /// No basic auth configured, or the right credentials.
    Yes,
    /// Missing or wrong credentials (answer 401).
    No,
}

impl WebSecurity {
    /// True when basic auth is on.
    pub fn needs_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks an `Authorization` header value against the users. Blocking
    /// (bcrypt): call it on the blocking pool.
    pub fn authorize(&self, header: Option<&str>) -> Authorized {
        if self.users.is_empty() {
            return Authorized::Yes;
        }
        let Some((user, password)) = header.and_then(parse_basic) else {
            return Authorized::No;
        };
        let Some(hash) = self.users.get(&user) else {
            return Authorized::No;
        };
        let key = (user, Sha256::digest(password.as_bytes()).into());
        if let Some(&ok) = self.cache().get(&key) {
            return if ok { Authorized::Yes } else { Authorized::No };
        }
        let ok = bcrypt::verify(&password, hash).unwrap_or(false);
        let mut cache = self.cache();
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, ok);
        if ok {
            Authorized::Yes
        } else {
            Authorized::No
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `Basic base64(user:password)` -> (user, password).
fn parse_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Reads and checks a web config file.
pub fn load(path: &Path) -> Result<WebSecurity, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Checks the text of the web config file `path` (whose folder the
/// certificate paths are relative to).
pub fn parse(text: &str, path: &Path) -> Result<WebSecurity, WebConfigError> {
    let parsed: WebConfigFileText = if text.trim().is_empty() {
        WebConfigFileText::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| WebConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    let invalid = |key: &str, message: String| WebConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if parsed.http_server_config.is_some() {
        return Err(invalid(
            "http_server_config",
            "not supported by drift-exporter (HTTP/1.1 only, no custom headers); remove it".into(),
        ));
    }
    let users = parsed.basic_auth_users.unwrap_or_default();
    for (user, hash) in &users {
        if user.contains(':') {
            return Err(invalid(
                &format!("basic_auth_users.{user}"),
                "a user name cannot contain ':'".into(),
            ));
        }
        if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
            return Err(invalid(
                &format!("basic_auth_users.{user}"),
                "must be a bcrypt hash ($2a$, $2b$ or $2y$...), e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`".into(),
            ));
        }
    }
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let tls = match parsed.tls_server_config {
        Some(tls) => Some(Arc::new(server_config(&tls, base, &invalid)?)),
        None => None,
    };
    Ok(WebSecurity {
        tls,
        users: Arc::new(users),
        verified: Arc::default(),
    })
}

fn server_config(
    tls: &TlsServerConfig,
    base: &Path,
    invalid: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<rustls::ServerConfig, WebConfigError> {
    for (key, set) in [
        ("cipher_suites", tls.cipher_suites.is_some()),
        ("curve_preferences", tls.curve_preferences.is_some()),
        (
            "prefer_server_cipher_suites",
            tls.prefer_server_cipher_suites.is_some(),
        ),
        ("client_allowed_sans", tls.client_allowed_sans.is_some()),
    ] {
        if set {
            return Err(invalid(
                &format!("tls_server_config.{key}"),
                "not supported by drift-exporter (rustls picks safe suites and curves); remove it"
                    .into(),
            ));
        }
    }
    let resolve = |p: &Path| {
        if p.is_relative() {
            base.join(p)
        } else {
            p.to_path_buf()
        }
    };
    let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) else {
        return Err(invalid(
            "tls_server_config",
            "needs both cert_file and key_file".into(),
        ));
    };
    let (cert_file, key_file) = (resolve(cert_file), resolve(key_file));
    let pem_err = |key: &str, file: &Path, e: rustls::pki_types::pem::Error| {
        invalid(
            &format!("tls_server_config.{key}"),
            format!("{}: {e}", file.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .map_err(|e| pem_err("cert_file", &cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err("cert_file", &cert_file, e))?;
    if certs.is_empty() {
        return Err(invalid(
            "tls_server_config.cert_file",
            format!("{}: no PEM certificate in it", cert_file.display()),
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(&key_file).map_err(|e| pem_err("key_file", &key_file, e))?;
    let version = |key: &str, text: &Option<String>| -> Result<Option<u8>, WebConfigError> {
        Ok(match text.as_deref() {
            None | Some("") => None,
            Some("TLS10") => Some(10),
            Some("TLS11") => Some(11),
            Some("TLS12") => Some(12),
            Some("TLS13") => Some(13),
            Some(other) => {
                return Err(invalid(
                    &format!("tls_server_config.{key}"),
                    format!("{other:?}: use TLS12 or TLS13 (or TLS10, TLS11)"),
                ))
            }
        })
    };
    // rustls has no TLS 1.0 or 1.1: a lower minimum still serves 1.2 and up.
    let min = version("min_version", &tls.min_version)?
        .unwrap_or(12)
        .max(12);
    let max = version("max_version", &tls.max_version)?.unwrap_or(13);
    if max < min {
        return Err(invalid(
            "tls_server_config.max_version",
            format!(
                "TLS{max} is below min_version TLS{min} (drift-exporter serves TLS12 and TLS13)"
            ),
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    let provider = provider();
    let auth_text = tls.client_auth_type.clone().unwrap_or_default();
    let auth = ClientAuth::parse(&auth_text).ok_or_else(|| {
        invalid(
            "tls_server_config.client_auth_type",
            format!("{auth_text:?}: use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
        )
    })?;
    let roots = match (&tls.client_ca_file, auth) {
        (Some(ca), _) => {
            let ca = resolve(ca);
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| pem_err("client_ca_file", &ca, e))?
            {
                let cert = cert.map_err(|e| pem_err("client_ca_file", &ca, e))?;
                roots.add(cert).map_err(|e| {
                    invalid(
                        "tls_server_config.client_ca_file",
                        format!("{}: {e}", ca.display()),
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(invalid(
                    "tls_server_config.client_ca_file",
                    format!("{}: no PEM certificate in it", ca.display()),
                ));
            }
            Some(Arc::new(roots))
        }
        (
            None,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert,
        ) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                format!("{auth_text} needs client_ca_file, the CA the client certificates are verified against"),
            ))
        }
        (None, _) => None,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("tls_server_config", e.to_string()))?;
    let verifier: Arc<dyn ClientCertVerifier> = match (auth, roots) {
        (ClientAuth::NoClientCert, _) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuth::RequestClientCert, _) => Arc::new(AnyClientCert {
            mandatory: false,
            signatures: Signatures(provider.clone()),
        }),
        (ClientAuth::RequireAnyClientCert, _) => Arc::new(AnyClientCert {
            mandatory: true,
            signatures: Signatures(provider.clone()),
        }),
        (ClientAuth::VerifyClientCertIfGiven, Some(roots)) => {
            WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| invalid("tls_server_config.client_ca_file", e.to_string()))?
        }
        (ClientAuth::RequireAndVerifyClientCert, Some(roots)) => {
            WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| invalid("tls_server_config.client_ca_file", e.to_string()))?
        }
        (_, None) => WebPkiClientVerifier::no_client_auth(),
    };
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            invalid(
                "tls_server_config.key_file",
                format!(
                    "{} does not go with {}: {e}",
                    key_file.display(),
                    cert_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The three signature methods of a rustls certificate verifier (client or
/// server side: the same signatures), delegated to its `signatures` field.
macro_rules! delegate_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls12(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls13(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.signatures.schemes()
        }
    };
}
pub(crate) use delegate_signatures;

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is
/// asked for (and with `mandatory` required) but not checked against a CA; its
/// signature over the handshake is still verified, so the client holds its key.
/// Hand-written: rustls ships only verifiers that check the chain.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    signatures: Signatures,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    delegate_signatures!();
}

/// The crypto provider of every TLS endpoint here: ring, which builds with a C
/// compiler alone (aws-lc-rs, rustls' default, needs cmake). It has no
/// post-quantum key exchange, for which rustls marks it deprecated.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Handshake signatures checked with the provider's algorithms: what a
/// verifier does even when it does not check the certificate chain.
#[derive(Debug)]
pub(crate) struct Signatures(pub(crate) Arc<CryptoProvider>);

impl Signatures {
    /// A TLS 1.2 handshake signature.
    pub(crate) fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// A TLS 1.3 handshake signature.
    pub(crate) fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// The schemes those algorithms cover.
    pub(crate) fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The web config of a running server: read at start (a broken file is an
/// error), re-read when the file changes (checked at most once a second, on
/// new connections); a broken new version is logged and the last good one kept.
#[derive(Debug)]
pub struct WebConfigFile {
    path: Option<PathBuf>,
    state: RwLock<Watched>,
}

#[derive(Debug)]
struct Watched {
    security: WebSecurity,
    stamp: Option<(u64, SystemTime)>,
    checked: Instant,
}

impl WebConfigFile {
    /// No file: plain HTTP, no auth.
    pub fn none() -> WebConfigFile {
        WebConfigFile {
            path: None,
            state: RwLock::new(Watched {
                security: WebSecurity::default(),
                stamp: None,
                checked: Instant::now(),
            }),
        }
    }

    /// Reads `path`; an error names the file and the key.
    pub fn open(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let security = load(path)?;
        Ok(WebConfigFile {
            path: Some(path.to_path_buf()),
            state: RwLock::new(Watched {
                security,
                stamp: stamp_of(path),
                checked: Instant::now(),
            }),
        })
    }

    /// What to enforce now (re-reading the file if it changed).
    pub fn current(&self) -> WebSecurity {
        let Some(path) = &self.path else {
            return self.read().security.clone();
        };
        {
            let state = self.read();
            if state.checked.elapsed() < Duration::from_secs(1) {
                return state.security.clone();
            }
        }
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.checked = Instant::now();
        let stamp = stamp_of(path);
        if stamp != state.stamp {
            state.stamp = stamp;
            match load(path) {
                Ok(security) => {
                    tracing::info!(file = %path.display(), "web config reloaded");
                    state.security = security;
                }
                Err(e) => {
                    tracing::error!(error = %e, "web config changed but cannot be used; keeping the previous one")
                }
            }
        }
        state.security.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Watched> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn stamp_of(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("web.yml");
        std::fs::write(&path, text).expect("written");
        path
    }

    #[test]
    fn basic_auth_checks_bcrypt_hashes_and_caches() -> TestResult {
        let dir = tempfile::tempdir()?;
        let hash = bcrypt::hash("secret", 4)?;
        let security = load(&write(
            dir.path(),
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
        ))?;
        assert!(security.tls.is_none() && security.needs_auth());
        let header = |user: &str, password: &str| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        assert_eq!(
            security.authorize(Some(&header("alice", "secret"))),
            Authorized::Yes
        );
        assert_eq!(
            security.authorize(Some(&header("alice", "secret"))),
            Authorized::Yes,
            "from the cache"
        );
        assert_eq!(
            security.authorize(Some(&header("alice", "wrong"))),
            Authorized::No
        );
        assert_eq!(
            security.authorize(Some(&header("bob", "secret"))),
            Authorized::No
        );
        assert_eq!(security.authorize(None), Authorized::No);
        assert_eq!(security.authorize(Some("Bearer x")), Authorized::No);
        Ok(())
    }

    #[test]
    fn broken_files_are_refused_with_the_key() -> TestResult {
        let dir = tempfile::tempdir()?;
        for (text, needle) in [
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice",
            ),
            (
                "tls_server_config:\n  cert_file: x.crt\n",
                "needs both cert_file and key_file",
            ),
            (
                "tls_server_config:\n  cert_file: x.crt\n  key_file: x.key\n",
                "x.crt",
            ),
            ("tls_servr_config: {}\n", "tls_servr_config"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [X]\n",
                "cipher_suites",
            ),
            ("basic_auth_users: [1, 2\n", "web.yml"),
        ] {
            let err = load(&write(dir.path(), text))
                .err()
                .ok_or(text)?
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let missing = load(&dir.path().join("none.yml")).err().ok_or("missing")?;
        assert!(missing.to_string().contains("none.yml"), "{missing}");
        // An empty file is no TLS and no auth.
        let empty = load(&write(dir.path(), ""))?;
        assert!(empty.tls.is_none() && !empty.needs_auth());
        Ok(())
    }

    #[test]
    fn a_changed_file_is_reread_and_a_broken_one_ignored() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = write(dir.path(), "");
        let file = WebConfigFile::open(&path)?;
        assert!(!file.current().needs_auth());
        let hash = bcrypt::hash("x", 4)?;
        std::fs::write(
            &path,
            format!("basic_auth_users:\n  a: '{hash}'\n# changed\n"),
        )?;
        file.state.write().map_err(|_| "poisoned")?.checked -= Duration::from_secs(2);
        assert!(file.current().needs_auth(), "re-read");
        std::fs::write(&path, "basic_auth_users: [broken\n")?;
        file.state.write().map_err(|_| "poisoned")?.checked -= Duration::from_secs(2);
        assert!(file.current().needs_auth(), "the last good one is kept");
        Ok(())
    }
}
