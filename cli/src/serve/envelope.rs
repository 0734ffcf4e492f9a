//! The envelope of every `/api/v1` answer (contract): `{"success": true, "data": …}`, or the HTTP
//! status with `{"success": false, "error": {"code", "message", "details"}}`. Library errors map
//! onto statuses here — not found 404, wrong state 409, invalid input 422, the database away 503 —
//! and anything else is logged and answered with a generic 500, so no SQL, query text or
//! connection string ever reaches a client. axum's own rejections (malformed JSON, a bad query
//! string, an unknown route) are answered in the same envelope.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{FromRequest, FromRequestParts, Query, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A successful answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success<T> {
    /// Always true.
    pub success: bool,
    pub data: T,
}

/// `200 {"success": true, "data": data}`.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(Success {
        success: true,
        data,
    })
    .into_response()
}

/// An error answer, as documented for every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable, e.g. `OPERATION_NOT_FOUND`, `VALIDATION_ERROR`, `OPERATION_NOT_RESUMABLE`.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// More about the error: for `VALIDATION_ERROR`, `errors` lists every problem with its path.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// One problem with the input: where (`body.symbol`, `query.limit`, `path.operation_id`) and what.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 422 listing every problem (`details.errors`), the message naming them all.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            message,
        )
        .with_details(json!({ "errors": errors }))
    }

    /// 422 for one problem at `path`.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            path: path.to_string(),
            message: message.into(),
        }])
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// The library's refusal of the input at `path` (a strategy that does not validate, a model
    /// that is not a completed training) as a 422 at that path; other errors as usual.
    pub fn at_path(path: &str) -> impl FnOnce(ktrdr::Error) -> ApiError {
        let path = path.to_string();
        move |err| match err {
            ktrdr::Error::InvalidInput(message) | ktrdr::Error::NotFound(message) => {
                ApiError::invalid(&path, message)
            }
            other => other.into(),
        }
    }

    /// A more precise code than the status's usual one (`NO_MARKET_DATA` for a 422).
    pub fn set_code(&mut self, code: &str) {
        self.code = code.to_string();
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// SQL functions start the messages that callers tell apart with a code: `OPERATION_NOT_RESUMABLE:
/// operation … is RUNNING …`. The code becomes the envelope's, the rest its message.
fn split_code(message: &str) -> Option<(&str, &str)> {
    let (code, rest) = message.split_once(": ")?;
    let is_code = code.len() >= 3
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        && code.contains('_');
    is_code.then_some((code, rest))
}

fn coded(status: StatusCode, default_code: &str, message: String) -> ApiError {
    match split_code(&message) {
        Some((code, rest)) => ApiError::new(status, code, rest),
        None => ApiError::new(status, default_code, message),
    }
}

impl From<ktrdr::Error> for ApiError {
    fn from(err: ktrdr::Error) -> Self {
        match err {
            ktrdr::Error::NotFound(message) => {
                coded(StatusCode::NOT_FOUND, "OPERATION_NOT_FOUND", message)
            }
            ktrdr::Error::Conflict(message) => {
                coded(StatusCode::CONFLICT, "INVALID_OPERATION_STATE", message)
            }
            ktrdr::Error::InvalidInput(message) => {
                let (code, message) = match split_code(&message) {
                    Some((code, rest)) => (code.to_string(), rest.to_string()),
                    None => ("VALIDATION_ERROR".to_string(), message),
                };
                let mut error = ApiError::invalid("body", message);
                error.set_code(&code);
                error
            }
            err if err.is_transient() => {
                tracing::warn!("database unavailable: {err}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "DATABASE_UNAVAILABLE",
                    "the database cannot be reached right now; retry shortly",
                )
            }
            err => {
                tracing::error!("request failed: {err}");
                internal()
            }
        }
    }
}

/// The one answer for failures a client cannot act on; the server's log has the cause.
pub fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "internal error: the server's log has the details",
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            success: false,
            error: ErrorBody {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body, malformed ones refused in the envelope: 422 with where the JSON broke, 413 past
/// the body limit, 415 without `Content-Type: application/json`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<Value>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let text = rejection.body_text();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the request body is over the limit of {} bytes",
                super::MAX_BODY_BYTES
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        _ => ApiError::invalid("body", text),
    }
}

/// A JSON body that may be left out: `None` for an empty body.
pub struct OptionalJsonBody(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        serde_json::from_slice(&bytes)
            .map(|value| OptionalJsonBody(Some(value)))
            .map_err(|err| ApiError::invalid("body", format!("not valid JSON: {err}")))
    }
}

/// The query string as name → value; each endpoint checks its own names (see `validate`), so
/// every bad parameter is named at once.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| QueryParams(params))
            .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))
    }
}

/// Unknown paths.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "NOT_FOUND",
        format!("no endpoint at {}: /api/v1/docs lists them", uri.path()),
    )
}

/// A known path with a method it does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "{method} is not allowed on {}: /api/v1/docs lists what is",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::split_code;

    #[test]
    fn codes_are_split_from_the_messages_that_start_with_one() {
        assert_eq!(
            split_code("OPERATION_NOT_RESUMABLE: operation x is RUNNING"),
            Some(("OPERATION_NOT_RESUMABLE", "operation x is RUNNING"))
        );
        assert_eq!(split_code("operation not found: op_x"), None);
        assert_eq!(split_code("ABC: no underscore"), None);
    }
}
