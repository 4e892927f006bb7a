//! The `http` source: bodies `POST`ed to `/ingest`.
//!
//! The server ([`crate::server`]) receives the request and reads the body within
//! `server.max_body_bytes`; this source does the rest, with no HTTP types: it
//! picks the format from the `Content-Type` ([`HttpSource::format`]), parses the
//! body on the blocking pool with the current plan, delivers the rows and waits
//! until they are in the window and the journal, and answers what was accepted.
//! A body that cannot be used is reported like an unreadable file
//! ([`SourceErrorReason`]); the server turns an [`IngestError`] into a status.

use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::{SourceContext, SourceErrorReason};
use crate::data::{self, Format};

/// Why an ingest request was refused; the server maps each to a status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// No format for the `Content-Type` (415).
    #[error("unsupported Content-Type {0:?}; use application/x-ndjson, application/json, text/csv, application/vnd.apache.arrow.stream or application/vnd.apache.parquet")]
    UnsupportedMediaType(String),
    /// A `Content-Encoding` other than gzip or identity (415).
    #[error("unsupported Content-Encoding {0:?}; send the body as is, or gzip-compressed with Content-Encoding: gzip")]
    UnsupportedEncoding(String),
    /// The body is over `server.max_body_bytes` (413).
    #[error("body larger than the limit of {0} bytes (server.max_body_bytes)")]
    TooLarge(usize),
    /// The body could not be parsed in its format, or not decompressed (400).
    #[error("{0}")]
    Unreadable(String),
    /// The daemon is shutting down (503).
    #[error("shutting down")]
    ShuttingDown,
    /// The parser task failed (500; a bug).
    #[error("parser failed: {0}")]
    Failed(String),
}

/// The answer to an accepted body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Rows used with every value.
    pub accepted: u64,
    /// Rows with a rejected value, or dropped whole.
    pub rejected: u64,
    /// The first rejection messages, naming the row and field.
    pub errors: Vec<String>,
}

/// `POST /ingest`, once an `http` source is configured.
#[derive(Debug)]
pub struct HttpSource {
    ctx: SourceContext,
}

impl HttpSource {
    /// The source delivering through `ctx`.
    pub fn new(ctx: SourceContext) -> HttpSource {
        HttpSource { ctx }
    }

    /// The source's label (the `source` label of its series).
    pub fn label(&self) -> &str {
        &self.ctx.label
    }

    /// The format a `Content-Type` names.
    pub fn format(content_type: &str) -> Result<Format, IngestError> {
        Format::from_content_type(content_type)
            .ok_or_else(|| IngestError::UnsupportedMediaType(content_type.to_string()))
    }

    /// Decompresses a body sent with `Content-Encoding: encoding` (gzip, or
    /// none), to at most `limit` bytes (a small body must not inflate past
    /// `server.max_body_bytes`). Runs on the blocking pool.
    pub async fn decode(
        &self,
        encoding: Option<&str>,
        body: Bytes,
        limit: usize,
    ) -> Result<Bytes, IngestError> {
        let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
        match encoding.as_deref() {
            None | Some("" | "identity") => Ok(body),
            Some("gzip" | "x-gzip") => {
                let inflated = tokio::task::spawn_blocking(move || gunzip(&body, limit))
                    .await
                    .map_err(|e| IngestError::Failed(e.to_string()))?;
                match inflated {
                    Ok(Some(bytes)) => Ok(bytes),
                    Ok(None) => Err(self.refuse_too_large(limit, None).await),
                    Err(e) => {
                        let message = format!("request body: cannot gunzip: {e}");
                        self.ctx
                            .report_error(SourceErrorReason::Unreadable, message.clone(), None)
                            .await;
                        Err(IngestError::Unreadable(message))
                    }
                }
            }
            Some(other) => Err(IngestError::UnsupportedEncoding(other.to_string())),
        }
    }

    /// Reports a body refused for its size (`declared` when the request said
    /// how large it is) and returns the error to answer with.
    pub async fn refuse_too_large(&self, limit: usize, declared: Option<u64>) -> IngestError {
        let message = match declared {
            Some(n) => format!("request body of {n} bytes refused"),
            None => "request body over the limit refused".to_string(),
        };
        self.ctx
            .report_error(SourceErrorReason::TooLarge, message, None)
            .await;
        IngestError::TooLarge(limit)
    }

    /// Parses `body` as `format` with the current plan and delivers the rows;
    /// `started` is when the request began (for the batch-processing time).
    pub async fn ingest(
        &self,
        format: Format,
        body: Bytes,
        started: Instant,
    ) -> Result<Accepted, IngestError> {
        // An empty body holds no rows, whatever its format: answered, not a batch.
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Accepted::default());
        }
        let plan = self.ctx.plan.borrow().clone();
        let parse_plan = plan.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            data::read_bytes(body, format, &parse_plan, "request body")
        })
        .await;
        let batches = match parsed {
            Ok(Ok(batches)) => batches,
            Ok(Err(e)) => {
                let message = e.to_string();
                self.ctx
                    .report_error(SourceErrorReason::Unreadable, message.clone(), None)
                    .await;
                return Err(IngestError::Unreadable(message));
            }
            Err(e) => return Err(IngestError::Failed(e.to_string())),
        };
        if batches
            .iter()
            .all(|b| b.rows == 0 && b.rejects.total_rows() == 0)
        {
            // A header line, `[]`, a schema without batches: no rows, no batch.
            return Ok(Accepted::default());
        }
        let seconds = started.elapsed().as_secs_f64();
        let summary = self
            .ctx
            .deliver(batches, seconds, plan, None)
            .await
            .ok_or(IngestError::ShuttingDown)?;
        Ok(Accepted {
            accepted: summary.accepted(),
            rejected: summary.rejects.total_rows(),
            errors: summary.rejects.errors,
        })
    }
}

/// Inflates a gzip stream (every member, as gzip readers do); `None` past `limit`.
fn gunzip(body: &[u8], limit: usize) -> std::io::Result<Option<Bytes>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let read = flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    Ok((read <= limit).then(|| Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{self, WITHIN};
    use crate::sources::SourceEvent;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn content_types_pick_the_format_and_others_are_refused() {
        assert_eq!(
            HttpSource::format("application/x-ndjson; charset=utf-8"),
            Ok(Format::Ndjson)
        );
        assert_eq!(HttpSource::format("text/csv"), Ok(Format::Csv));
        let refused = HttpSource::format("text/plain");
        assert_eq!(
            refused,
            Err(IngestError::UnsupportedMediaType("text/plain".into()))
        );
        assert!(refused
            .err()
            .is_some_and(|e| e.to_string().contains("application/x-ndjson")));
    }

    #[test]
    fn gzip_bodies_inflate_within_the_limit() -> TestResult {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'x'; 10_000])?;
        let zipped = encoder.finish()?;
        assert_eq!(gunzip(&zipped, 10_000)?.map(|b| b.len()), Some(10_000));
        assert_eq!(gunzip(&zipped, 9_999)?, None, "over the limit");
        assert!(gunzip(b"not gzip", 100).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_body_is_delivered_and_answered_with_its_summary() -> TestResult {
        let (ctx, mut rx, _shutdown) = test_support::context("http".into());
        let source = HttpSource::new(ctx);
        let daemon = tokio::spawn(async move {
            let mut rows = Vec::new();
            while let Some(event) = rx.recv().await {
                match event {
                    SourceEvent::Delivery(d) => {
                        rows.push(d.summary.rows);
                        if let Some(ack) = d.ack {
                            let _ = ack.send(());
                        }
                    }
                    SourceEvent::Error { reason, ack, .. } => {
                        rows.push(u64::from(reason == SourceErrorReason::Unreadable) * 1000);
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                    }
                }
            }
            rows
        });
        let body = Bytes::from_static(b"{\"x\": 1}\n{\"x\": \"a\"}\nnot json\n");
        let answer =
            tokio::time::timeout(WITHIN, source.ingest(Format::Ndjson, body, Instant::now()))
                .await??;
        assert_eq!((answer.accepted, answer.rejected), (1, 2));
        assert_eq!(answer.errors.len(), 2, "{:?}", answer.errors);
        let bad = source
            .ingest(Format::Json, Bytes::from_static(b"[1,"), Instant::now())
            .await;
        assert!(matches!(bad, Err(IngestError::Unreadable(_))), "{bad:?}");
        drop(source);
        let seen = tokio::time::timeout(WITHIN, daemon).await??;
        assert_eq!(
            seen,
            vec![2, 1000],
            "two rows kept, then one unreadable body"
        );
        Ok(())
    }
}
