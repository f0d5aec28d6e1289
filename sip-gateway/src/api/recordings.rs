//! A call's recording (issue #19): `GET /v1/calls/{id}/recording` streams
//! the WAV (admin, read and agent tokens), with single HTTP Range requests
//! (RFC 9110 §14) so a browser's player can seek; `DELETE` erases it
//! (admin), logs the erasure and marks the call's record.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa::ToSchema;

use super::error::{ApiPath, ErrorBody};
use super::{ApiError, ApiState};
use crate::store::RecordingInfo;

/// Bytes read per chunk of the streamed body.
const CHUNK: usize = 64 * 1024;

/// The call's recording file, or the 404/409 that says why there is none.
async fn recording_file(s: &ApiState, id: &str) -> Result<(RecordingInfo, String), ApiError> {
    let info = match s.store()?.recording(id).await? {
        None => return Err(ApiError::not_found(format!("no call with id {id:?}"))),
        Some(None) => return Err(ApiError::not_found(format!("call {id:?} was not recorded"))),
        Some(Some(info)) => info,
    };
    match (&info.path, info.status.as_str()) {
        (_, "deleted") => Err(ApiError::not_found(format!("the recording of call {id:?} was deleted"))),
        (_, "recording") => Err(ApiError::new(StatusCode::CONFLICT, format!("call {id:?} is still being recorded"))),
        (Some(path), _) => {
            let path = path.clone();
            Ok((info, path))
        }
        (None, status) => {
            let why = info.reason.clone().unwrap_or_else(|| status.to_owned());
            Err(ApiError::not_found(format!("call {id:?} was not recorded: {why}")))
        }
    }
}

/// `Range: bytes=…` for a file of `len` bytes: None for no (or an
/// ignorable, e.g. multi-range) header, Err for an unsatisfiable one.
fn parse_range(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let value = headers.get(RANGE)?.to_str().ok()?.trim();
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: the whole file (RFC 9110 §14.2 allows ignoring Range)
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.is_empty(), end.is_empty()) {
        (true, true) => return None,
        (true, false) => {
            let n: u64 = end.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, _) => {
            let a: u64 = start.parse().ok()?;
            let b: u64 = if end.is_empty() { len.saturating_sub(1) } else { end.parse::<u64>().ok()?.min(len.saturating_sub(1)) };
            if a >= len || b < a {
                return Some(Err(()));
            }
            (a, b)
        }
    };
    Some(Ok(range))
}

/// The call's recording: an 8 kHz 16-bit stereo WAV (caller left, bot or
/// agent right). Supports one `Range: bytes=…` (206 with `Content-Range`;
/// 416 when it cannot be satisfied).
#[utoipa::path(
    get, path = "/v1/calls/{id}/recording", tag = "calls", security(("bearer" = [])),
    params(("id" = String, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the whole WAV", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "the requested byte range", content_type = "audio/wav", body = Vec<u8>),
        (status = 401, description = "missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "no such call, not recorded (and why), or deleted", body = ErrorBody),
        (status = 409, description = "the call is still being recorded", body = ErrorBody),
        (status = 416, description = "the range is outside the file", body = ErrorBody),
    )
)]
pub(crate) async fn get_recording(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, path) = recording_file(&s, &id).await?;
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::warn!(error = %e, %path, "recording file missing");
        ApiError::not_found(format!("the recording file of call {id:?} is missing"))
    })?;
    let len = file.metadata().await.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?.len();
    let (status, start, end) = match parse_range(&headers, len) {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => {
            let body = Json(ErrorBody { error: format!("range not satisfiable: the recording has {len} bytes") });
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(CONTENT_RANGE, format!("bytes */{len}"))], body).into_response());
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    }
    let stream = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(left as usize)];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "audio/wav")
        .header(ACCEPT_RANGES, "bytes")
        .header(CONTENT_LENGTH, count.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    response.body(Body::from_stream(stream)).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// What `DELETE /v1/calls/{id}/recording` did.
#[derive(Serialize, ToSchema)]
pub(crate) struct Deleted {
    /// The call.
    id: String,
    /// Always true.
    deleted: bool,
}

/// Erases a call's recording (an erasure request): the file is removed,
/// the erasure logged, and the call's record marked `deleted` (its
/// `recording.deleted_at` set).
#[utoipa::path(
    delete, path = "/v1/calls/{id}/recording", tag = "calls", security(("bearer" = [])),
    params(("id" = String, Path, description = "the call's id")),
    responses(
        (status = 200, body = Deleted),
        (status = 401, description = "missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "not an admin token", body = ErrorBody),
        (status = 404, description = "no such call, not recorded, or already deleted", body = ErrorBody),
        (status = 409, description = "the call is still being recorded", body = ErrorBody),
    )
)]
pub(crate) async fn delete_recording(State(s): State<ApiState>, ApiPath(id): ApiPath<String>) -> Result<Json<Deleted>, ApiError> {
    let (_, path) = recording_file(&s, &id).await?;
    let store = s.store()?;
    tracing::warn!(call_id = %id, %path, "recording erasure requested through the API");
    if !crate::recording::delete(store, &id, &path, "api", crate::call::unix_ms()).await? {
        return Err(ApiError::not_found(format!("call {id:?} has no recording to delete")));
    }
    Ok(Json(Deleted { id, deleted: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
        let mut h = HeaderMap::new();
        h.insert(RANGE, v.parse().expect("header"));
        parse_range(&h, len)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-99", 1000), Some(Ok((0, 99))));
        assert_eq!(range("bytes=900-", 1000), Some(Ok((900, 999))));
        assert_eq!(range("bytes=-100", 1000), Some(Ok((900, 999))));
        assert_eq!(range("bytes=500-5000", 1000), Some(Ok((500, 999))));
        assert_eq!(range("bytes=1000-", 1000), Some(Err(())));
        assert_eq!(range("bytes=5-1", 1000), Some(Err(())));
        assert_eq!(range("bytes=0-1,5-6", 1000), None);
        assert_eq!(range("items=0-1", 1000), None);
        assert_eq!(parse_range(&HeaderMap::new(), 1000), None);
    }
}
