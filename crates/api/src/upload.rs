//! Receiving an uploaded archive: streamed to a temp file on the data volume, never held in
//! memory, and cut off as soon as it passes `TMAHOST_MAX_ARCHIVE_BYTES`.

use actix_web::{HttpRequest, http::header, web};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tempfile::NamedTempFile;
use tmahost_service::{IngestError, Platform, ServiceError};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Saves the request body (raw, or the first file part of a multipart form) to a temp file
/// that is deleted when the returned handle drops.
pub async fn receive(p: &Platform, req: &HttpRequest, payload: web::Payload) -> Result<NamedTempFile, ApiError> {
    let limit = p.config().max_archive_bytes;
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let tmp = NamedTempFile::with_prefix_in("upload-", p.work_dir()).map_err(internal)?;
    let file = tokio::fs::File::from_std(tmp.reopen().map_err(internal)?);

    let written = if content_type.starts_with("multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut found = None;
        while let Some(field) = form.try_next().await.map_err(|e| bad_upload(e.to_string()))? {
            let is_file = field.content_disposition().and_then(|cd| cd.get_filename()).is_some();
            if is_file {
                found = Some(copy(field.map(|r| r.map_err(|e| e.to_string())), file, limit).await?);
                break;
            }
        }
        found.ok_or_else(|| bad_upload("the multipart form has no file part".into()))?
    } else {
        copy(payload.map(|r| r.map_err(|e| e.to_string())), file, limit).await?
    };
    if written == 0 {
        return Err(bad_upload("the request body is empty; send the archive as the body".into()).into());
    }
    Ok(tmp)
}

async fn copy(
    mut body: impl Stream<Item = Result<web::Bytes, String>> + Unpin,
    mut file: tokio::fs::File,
    limit: u64,
) -> Result<u64, ApiError> {
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(bad_upload)?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    Ok(n)
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
