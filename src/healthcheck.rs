//! `drift-exporter healthcheck`: asks a running daemon's `/healthz` over plain
//! HTTP/1.1, so a container health check needs no shell, curl or wget.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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
}

/// GET `/healthz` at `address` (host:port); Ok when it answers 200.
pub fn check(address: &str, timeout: Duration) -> Result<(), HealthError> {
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
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io_err)?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(io_err)?;
    let status = String::from_utf8_lossy(&head[..n]);
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
