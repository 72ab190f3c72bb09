//! Receiving an uploaded archive: streamed to a temp file on the data volume, never held in
//! memory, cut off as soon as it passes `TMAHOST_MAX_ARCHIVE_BYTES`; and a digest deploy's
//! blob, cut off past its declared size. Either is cut off after
//! `TMAHOST_UPLOAD_IDLE_SECS` without a byte (a stalled or slow-loris client must not hold a
//! connection and a temp file forever).

use std::time::Duration;

use actix_web::{HttpRequest, http::header, web};
use futures_util::{Stream, StreamExt};
use tempfile::NamedTempFile;
use tmahost_service::{IngestError, Platform, ServiceError};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Text fields a multipart form may send before its file part, and their size.
const MAX_FIELDS: usize = 10;
const MAX_FIELD_BYTES: usize = 1000;

/// An upload on disk, and the text fields of its form (dashboard: CSRF token, message).
#[derive(Debug)]
pub struct Received {
    /// Deleted when dropped.
    pub file: NamedTempFile,
    pub fields: Vec<(String, String)>,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Saves the request body (raw, or the first file part of a multipart form, after the text
/// fields that precede it) to a temp file.
pub async fn receive(p: &Platform, req: &HttpRequest, payload: web::Payload) -> Result<Received, ApiError> {
    let limit = p.config().uploads.max_archive_bytes;
    let idle = idle_of(p);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let tmp = NamedTempFile::with_prefix_in("upload-", p.work_dir()).map_err(internal)?;
    let file = tokio::fs::File::from_std(tmp.reopen().map_err(internal)?);

    let mut fields = Vec::new();
    let written = if content_type.starts_with("multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut found = None;
        while let Some(field) = next(&mut form, idle).await? {
            let mut field = field.map_err(|e| bad_upload(e.to_string()))?;
            let is_file = field.content_disposition().and_then(|cd| cd.get_filename()).is_some();
            if is_file {
                found = Some(copy(field.map(|r| r.map_err(|e| e.to_string())), file, limit, idle, too_large).await?);
                break;
            }
            let name = field.name().unwrap_or_default().to_owned();
            let mut value = Vec::new();
            while let Some(chunk) = next(&mut field, idle).await? {
                value.extend_from_slice(&chunk.map_err(|e| bad_upload(e.to_string()))?);
                if value.len() > MAX_FIELD_BYTES {
                    return Err(bad_upload(format!("the form field `{name}` is too long")).into());
                }
            }
            if fields.len() == MAX_FIELDS {
                return Err(bad_upload("the form has too many fields".into()).into());
            }
            fields.push((name, String::from_utf8_lossy(&value).into_owned()));
        }
        found.ok_or_else(|| bad_upload("the multipart form has no file part".into()))?
    } else {
        copy(payload.map(|r| r.map_err(|e| e.to_string())), file, limit, idle, too_large).await?
    };
    if written == 0 {
        return Err(bad_upload("the request body is empty; send the archive as the body".into()).into());
    }
    Ok(Received { file: tmp, fields })
}

/// Blob bodies up to this size are received into memory; bigger ones are spooled to a temp
/// file first. Creating a file per blob was a third of a 1,000-file deploy's time, while
/// concurrent uploads hold at most this much each until their bytes have arrived.
const IN_MEMORY_BLOB: u64 = 1024 * 1024;

/// The body of a blob upload (`PUT /api/v1/blobs/{sha256}`), refusing to read past the size
/// its manifest declared (at most `max_file_bytes`). Hashing and compressing it need the
/// bytes in memory either way.
pub async fn receive_blob(p: &Platform, mut payload: web::Payload, size: u64) -> Result<web::Bytes, ApiError> {
    let longer = |limit| -> ApiError {
        ServiceError::BadRequest {
            code: "size_mismatch",
            message: format!("the body is longer than the {limit} bytes the manifest declared"),
        }
        .into()
    };
    if size <= IN_MEMORY_BLOB {
        let mut buf = web::BytesMut::with_capacity(size as usize);
        while let Some(chunk) = next(&mut payload, idle_of(p)).await? {
            let chunk = chunk.map_err(|e| bad_upload(e.to_string()))?;
            if (buf.len() + chunk.len()) as u64 > size {
                return Err(longer(size));
            }
            buf.extend_from_slice(&chunk);
        }
        return Ok(buf.freeze());
    }
    let tmp = NamedTempFile::with_prefix_in("blob-", p.work_dir()).map_err(internal)?;
    let file = tokio::fs::File::from_std(tmp.reopen().map_err(internal)?);
    copy(payload.map(|r| r.map_err(|e| e.to_string())), file, size, idle_of(p), longer).await?;
    Ok(tokio::fs::read(tmp.path()).await.map_err(internal)?.into())
}

/// Reads a JSON request body of at most `limit` bytes into memory.
pub async fn read_body(p: &Platform, mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = next(&mut payload, idle_of(p)).await? {
        let chunk = chunk.map_err(|e| bad_upload(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            return Err(ServiceError::BadRequest {
                code: "body_too_large",
                message: format!("the request body is larger than {limit} bytes"),
            }
            .into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn copy(
    mut body: impl Stream<Item = Result<web::Bytes, String>> + Unpin,
    mut file: tokio::fs::File,
    limit: u64,
    idle: Duration,
    over: impl Fn(u64) -> ApiError,
) -> Result<u64, ApiError> {
    let mut n = 0u64;
    while let Some(chunk) = next(&mut body, idle).await? {
        let chunk = chunk.map_err(bad_upload)?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(over(limit));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    Ok(n)
}

fn idle_of(p: &Platform) -> Duration {
    Duration::from_secs(p.config().api.upload_idle_secs)
}

/// The next item of a body, or 408 when the client sent nothing for `idle`.
async fn next<S: Stream + Unpin>(body: &mut S, idle: Duration) -> Result<Option<S::Item>, ApiError> {
    tokio::time::timeout(idle, body.next()).await.map_err(|_| {
        ServiceError::Timeout(format!("the request body stalled: nothing arrived for {} s", idle.as_secs())).into()
    })
}

fn too_large(limit: u64) -> ApiError {
    ServiceError::Ingest(IngestError::ArchiveTooLarge { limit }).into()
}

fn bad_upload(message: String) -> ServiceError {
    ServiceError::invalid("bad_upload", format!("the upload could not be read: {message}"))
}

fn internal(e: std::io::Error) -> ServiceError {
    ServiceError::internal(e)
}
