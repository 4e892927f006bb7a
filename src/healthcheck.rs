//! `drift-exporter healthcheck`: asks a running daemon's `/healthz` over
//! HTTP/1.1, so a container health check needs no shell, curl or wget. Against a
//! daemon protected by `--web.config.file` it speaks TLS (`--tls`, with a client
//! certificate when the daemon requires one) and sends basic-auth credentials.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::web_config::{delegate_signatures, provider, Signatures};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Errors of a health check.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The address does not resolve.
    #[error("{0}: cannot resolve the address")]
    Resolve(String),
    /// Connecting, writing or reading failed.
    #[error("{address}: {source}")]
    Io {
        /// The address.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon answered, but not 200.
    #[error("{address}: /healthz answered {status:?}")]
    Unhealthy {
        /// The address.
        address: String,
        /// The status line.
        status: String,
    },
    /// The TLS client cannot be set up (a client certificate file...).
    #[error("{0}")]
    Tls(String),
}

/// How to reach a protected daemon.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Speak TLS. The daemon's certificate is not verified: the check proves
    /// the local daemon answers, and a probe has no business holding its CA.
    pub tls: bool,
    /// A client certificate and key (PEM), for a daemon that requires one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Basic-auth user and password.
    pub basic_auth: Option<(String, String)>,
}

/// GET `/healthz` at `address` (host:port); Ok when it answers 200.
pub fn check(address: &str, timeout: Duration) -> Result<(), HealthError> {
    check_with(address, timeout, &Credentials::default())
}

/// [`check`] with TLS and credentials.
pub fn check_with(
    address: &str,
    timeout: Duration,
    credentials: &Credentials,
) -> Result<(), HealthError> {
    let io_err = |source| HealthError::Io {
        address: address.to_string(),
        source,
    };
    let target = address
        .to_socket_addrs()
        .map_err(io_err)?
        .next()
        .ok_or_else(|| HealthError::Resolve(address.to_string()))?;
    let mut stream = TcpStream::connect_timeout(&target, timeout).map_err(io_err)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some((user, password)) = &credentials.basic_auth {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let mut head = Vec::new();
    if credentials.tls {
        let config = client_config(credentials)?;
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name =
            ServerName::try_from(host).map_err(|e| HealthError::Tls(format!("{address}: {e}")))?;
        let connection = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| HealthError::Tls(format!("{address}: {e}")))?;
        let mut tls = rustls::StreamOwned::new(connection, stream);
        tls.write_all(request.as_bytes()).map_err(io_err)?;
        read_head(&mut tls, &mut head).map_err(io_err)?;
    } else {
        stream.write_all(request.as_bytes()).map_err(io_err)?;
        read_head(&mut stream, &mut head).map_err(io_err)?;
    }
    let status = String::from_utf8_lossy(&head);
    let line = status.lines().next().unwrap_or_default().to_string();
    if line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(HealthError::Unhealthy {
            address: address.to_string(),
            status: line,
        })
    }
}

/// Reads until the end of the status line (or 64 bytes, or the end).
fn read_head(reader: &mut impl Read, head: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    while head.len() < 64 && !head.contains(&b'\n') {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

fn client_config(credentials: &Credentials) -> Result<rustls::ClientConfig, HealthError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HealthError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert {
            signatures: Signatures(provider),
        }));
    match &credentials.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect())
                .map_err(|e| HealthError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| HealthError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| HealthError::Tls(format!("{}: {e}", cert.display())))
        }
    }
}

/// Accepts the daemon's certificate without checking its chain or name (the
/// handshake signature is still verified). Hand-written: rustls ships only
/// verifying verifiers, on purpose.
#[derive(Debug)]
struct AnyServerCert {
    signatures: Signatures,
}

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    delegate_signatures!();
}
