//! The HTTP side (hyper 1): `/metrics` (or the configured telemetry path),
//! `/healthz`, `/readyz`, `GET /api/v1/drift` and `POST /ingest`.
//!
//! Handlers only read shared state ([`AppState`]) or hand a request body to the
//! http source ([`crate::sources::http`]), which parses and delivers it; the
//! daemon owns the window. The accept loop stops on the shutdown token and lets
//! requests in flight finish.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::drift::DriftReport;
use crate::metrics::exposition::Format;
use crate::metrics::Metrics;
use crate::sources::http::{HttpSource, IngestError};
use crate::web_config::{Authorized, WebConfigFile, WebSecurity};

/// What handlers share with the daemon.
pub struct AppState {
    /// The registry behind `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The latest evaluation, for `/api/v1/drift`.
    pub report: RwLock<Option<Arc<DriftReport>>>,
    /// True once the reference profile is loaded.
    pub ready: AtomicBool,
    /// Set once an `http` source is started.
    pub ingest: OnceLock<HttpSource>,
    /// Path of the metrics page.
    pub telemetry_path: String,
    /// Largest accepted ingest body.
    pub max_body_bytes: usize,
    /// Admission of `POST /ingest` requests.
    pub ingest_limits: IngestLimits,
    /// TLS and basic auth (`--web.config.file`), for every endpoint.
    pub web: WebConfigFile,
}

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// Everything (no `server.ingest_listen`).
    All,
    /// Everything but `POST /ingest`, which has its own listener.
    AllButIngest,
    /// `POST /ingest` and `/healthz` only (`server.ingest_listen`).
    IngestOnly,
}

/// Bounds on the ingest requests in flight (`server.max_concurrent_ingests`,
/// `server.max_ingest_bytes`, `server.body_timeout`): a request that does not
/// fit is answered 503 with `Retry-After` at once, rather than queued, so the
/// memory held by bodies being read and parsed stays bounded.
#[derive(Debug)]
pub struct IngestLimits {
    requests: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    total_kib: u32,
    body_timeout: Duration,
}

impl IngestLimits {
    /// Limits of `requests` at once and `bytes` of bodies at once.
    pub fn new(requests: usize, bytes: usize, body_timeout: Duration) -> IngestLimits {
        let total_kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        IngestLimits {
            requests: Arc::new(Semaphore::new(requests.max(1))),
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            body_timeout,
        }
    }

    /// Permits for a body of `bytes` (its declared length, or the largest
    /// allowed), or `None` when the limits are reached.
    fn admit(&self, bytes: u64) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let request = self.requests.clone().try_acquire_owned().ok()?;
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        let body = self.kib.clone().try_acquire_many_owned(kib).ok()?;
        Some((request, body))
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    respond(status, "application/json", value.to_string())
}

/// Serves `endpoints` until `shutdown` is cancelled, then waits (up to 5 s) for
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // The web config as it is now: a changed file applies to new connections.
                let security = state.web.current();
                let watcher = graceful.watcher();
                let state = state.clone();
                tokio::spawn(async move {
                    match security.tls.clone() {
                        None => connection(stream, state, endpoints, security, watcher).await,
                        Some(tls) => {
                            let handshake = TlsAcceptor::from(tls).accept(stream);
                            match tokio::time::timeout(Duration::from_secs(10), handshake).await {
                                Ok(Ok(stream)) => {
                                    connection(stream, state, endpoints, security, watcher).await
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
            _ = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 5 s; closing them");
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS), checking basic auth first.
async fn connection<I>(
    io: I,
    state: Arc<AppState>,
    endpoints: Endpoints,
    security: WebSecurity,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let (state, security) = (state.clone(), security.clone());
        async move {
            if security.needs_auth() {
                let header = req
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // bcrypt takes milliseconds: off the async workers.
                let checked =
                    tokio::task::spawn_blocking(move || security.authorize(header.as_deref()))
                        .await;
                if !matches!(checked, Ok(Authorized::Yes)) {
                    return Ok::<_, Infallible>(unauthorized());
                }
            }
            Ok::<_, Infallible>(route(req, state, endpoints).await)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// 401 with the challenge a browser or Prometheus answers with credentials.
fn unauthorized() -> HttpResponse {
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "unauthorized: basic auth (--web.config.file basic_auth_users)"}),
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"drift-exporter\""),
    );
    response
}

async fn route(req: Request<Incoming>, state: Arc<AppState>, endpoints: Endpoints) -> HttpResponse {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match endpoints {
        Endpoints::IngestOnly => {
            return match (method, path.as_str()) {
                (Method::POST, "/ingest") => ingest(req, &state).await,
                (Method::GET | Method::HEAD, "/healthz") => {
                    respond(StatusCode::OK, "text/plain", "ok\n")
                }
                (_, "/ingest") => json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({"error": "method not allowed"}),
                ),
                _ => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("no such path: {path}; this address (server.ingest_listen) serves POST /ingest only")}),
                ),
            };
        }
        Endpoints::AllButIngest if path == "/ingest" => {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "POST /ingest is served on server.ingest_listen, not on this address"}),
            );
        }
        Endpoints::All | Endpoints::AllButIngest => {}
    }
    match (method, path.as_str()) {
        (Method::GET | Method::HEAD, p) if p == state.telemetry_path => metrics_page(&req, &state),
        (Method::GET | Method::HEAD, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
        (Method::GET | Method::HEAD, "/readyz") => {
            if state.ready.load(Ordering::Acquire) {
                respond(StatusCode::OK, "text/plain", "ready\n")
            } else {
                respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "loading the reference\n")
            }
        }
        (Method::GET, "/api/v1/drift") => {
            let report = state.report.read().map(|r| r.clone()).unwrap_or_else(|p| p.into_inner().clone());
            match report {
                Some(report) => match serde_json::to_vec(&*report) {
                    Ok(body) => respond(StatusCode::OK, "application/json", body),
                    Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": e.to_string()})),
                },
                None => json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"error": "no evaluation yet: the reference is still loading"}),
                ),
            }
        }
        (Method::POST, "/ingest") => ingest(req, &state).await,
        (Method::GET, "/") => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            format!(
                "<html><head><title>drift-exporter</title></head><body><h1>drift-exporter</h1>\
                 <ul><li><a href=\"{0}\">{0}</a></li><li><a href=\"/api/v1/drift\">/api/v1/drift</a></li>\
                 <li><a href=\"/healthz\">/healthz</a></li><li><a href=\"/readyz\">/readyz</a></li></ul></body></html>\n",
                state.telemetry_path
            ),
        ),
        (_, "/ingest" | "/healthz" | "/readyz" | "/api/v1/drift") => {
            json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method not allowed"}))
        }
        (_, p) if p == state.telemetry_path => {
            json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method not allowed"}))
        }
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": format!("no such path: {path}")})),
    }
}

/// `/metrics`: the text format or OpenMetrics (by `Accept`), gzip-compressed
/// when the scraper accepts it (Prometheus does).
fn metrics_page(req: &Request<Incoming>, state: &AppState) -> HttpResponse {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(header(ACCEPT));
    let text = state.metrics.render_as(format);
    let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
    if !gzip {
        return respond(StatusCode::OK, format.content_type(), text);
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::fast(),
    );
    let zipped =
        std::io::Write::write_all(&mut encoder, text.as_bytes()).and_then(|()| encoder.finish());
    match zipped {
        Ok(body) => {
            let mut response = respond(StatusCode::OK, format.content_type(), body);
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot gzip the metrics page; sending it as is");
            respond(StatusCode::OK, format.content_type(), text)
        }
    }
}

/// True when an `Accept-Encoding` value lists gzip without `q=0`.
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

async fn ingest(req: Request<Incoming>, state: &AppState) -> HttpResponse {
    let Some(source) = state.ingest.get() else {
        if !state.ready.load(Ordering::Acquire) {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "not ready: the reference is still loading"}),
            );
        }
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "POST /ingest is off: add a [[sources]] entry with type = \"http\" to the config"}),
        );
    };
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let format = match HttpSource::format(&content_type) {
        Ok(format) => format,
        Err(e) => return ingest_error(&e),
    };
    let encoding = req
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)").to_string());
    let limit = state.max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ingest_error(&source.refuse_too_large(limit, declared).await);
    }
    // Held until the rows are in the window: the body, its parse and its rows
    // count against the limits meanwhile.
    let limits = &state.ingest_limits;
    let Some(_permits) = limits.admit(declared.unwrap_or(limit as u64)) else {
        state.metrics.record_source_error(source.label(), "busy");
        let mut busy = json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "ingest is at its limit (server.max_concurrent_ingests, server.max_ingest_bytes); retry after the Retry-After seconds"}),
        );
        busy.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return busy;
    };
    let started = Instant::now();
    let read = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(req.into_body(), limit).collect(),
    );
    let body = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return ingest_error(&source.refuse_too_large(limit, None).await);
        }
        Ok(Err(e)) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("cannot read the body: {e}")}),
            )
        }
        Err(_) => {
            state.metrics.record_source_error(source.label(), "timeout");
            return json_response(
                StatusCode::REQUEST_TIMEOUT,
                &json!({"error": format!("the body did not arrive within {} (server.body_timeout)", humantime::format_duration(limits.body_timeout))}),
            );
        }
    };
    let body = match source.decode(encoding.as_deref(), body, limit).await {
        Ok(body) => body,
        Err(e) => return ingest_error(&e),
    };
    match source.ingest(format, body, started).await {
        Ok(accepted) => match serde_json::to_value(&accepted) {
            Ok(value) => json_response(StatusCode::OK, &value),
            Err(e) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": e.to_string()}),
            ),
        },
        Err(e) => ingest_error(&e),
    }
}

/// The status and JSON body of a refused ingest request.
fn ingest_error(error: &IngestError) -> HttpResponse {
    let status = match error {
        IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Unreadable(_) => StatusCode::BAD_REQUEST,
        IngestError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        IngestError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &json!({"error": error.to_string()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br, deflate"));
    }
}
