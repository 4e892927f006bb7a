//! The HTTP side (hyper 1): `/metrics` (or the configured telemetry path),
//! `/healthz`, `/readyz`, `GET /api/v1/drift` and `POST /ingest`.
//!
//! Handlers only read shared state ([`AppState`]) or hand parsed rows to the daemon
//! through the http source's [`SourceContext`]; the daemon owns the window. The
//! accept loop stops on the shutdown token and lets requests in flight finish.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::data::{self, ColumnPlan, Format, Rejects};
use crate::drift::DriftReport;
use crate::metrics::Metrics;
use crate::sources::SourceContext;

/// What handlers share with the daemon.
pub struct AppState {
    /// The registry behind `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The latest evaluation, for `/api/v1/drift`.
    pub report: RwLock<Option<Arc<DriftReport>>>,
    /// True once the reference profile is loaded.
    pub ready: AtomicBool,
    /// The current read plan.
    pub plan: watch::Receiver<Arc<ColumnPlan>>,
    /// Present when an `http` source is configured.
    pub ingest: Option<SourceContext>,
    /// Path of the metrics page.
    pub telemetry_path: String,
    /// Largest accepted ingest body.
    pub max_body_bytes: usize,
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

/// Serves until `shutdown` is cancelled, then waits (up to 5 s) for requests in flight.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, shutdown: CancellationToken) {
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
                let state = state.clone();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(req, state).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
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

async fn route(req: Request<Incoming>, state: Arc<AppState>) -> HttpResponse {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET | Method::HEAD, p) if p == state.telemetry_path => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
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

async fn ingest(req: Request<Incoming>, state: &AppState) -> HttpResponse {
    let Some(ctx) = state.ingest.as_ref() else {
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
    let Some(format) = Format::from_content_type(&content_type) else {
        return json_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({"error": format!(
                "unsupported Content-Type {content_type:?}; use application/x-ndjson, application/json, text/csv or application/vnd.apache.arrow.stream"
            )}),
        );
    };
    let limit = state.max_body_bytes;
    let too_large = || {
        json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": format!("body larger than the limit of {limit} bytes (server.max_body_bytes)")}),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        ctx.report_error(
            "too_large",
            format!("request body of {} bytes refused", declared.unwrap_or(0)),
            None,
        )
        .await;
        return too_large();
    }
    let started = Instant::now();
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            ctx.report_error(
                "too_large",
                "request body over the limit refused".into(),
                None,
            )
            .await;
            return too_large();
        }
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("cannot read the body: {e}")}),
            )
        }
    };
    let plan = ctx.plan.borrow().clone();
    let parse_plan = plan.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        data::read_bytes(body, format, &parse_plan, "request body")
    })
    .await;
    let batches = match parsed {
        Ok(Ok(batches)) => batches,
        Ok(Err(e)) => {
            let message = e.to_string();
            ctx.report_error("unreadable", message.clone(), None).await;
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": message}));
        }
        Err(e) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": format!("parser failed: {e}")}),
            )
        }
    };
    let mut rejects = Rejects::default();
    let mut rows = 0u64;
    for b in &batches {
        rejects.merge(&b.rejects);
        rows += b.rows as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    if !ctx.deliver(batches, seconds, plan, None).await {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "shutting down"}),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({
            "accepted": rows - rejects.partial_rows,
            "rejected": rejects.total_rows(),
            "errors": rejects.errors,
        }),
    )
}
