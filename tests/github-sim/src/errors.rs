//! Typed errors: [`SimError`] (what starting a simulator can fail with) and [`ApiError`], an
//! error answered by the REST API, rendered in GitHub's shapes: `basic-error`
//! (`message`, `documentation_url`, `status`) and, for 422 validation failures,
//! `validation-error` (with `errors[]`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use thiserror::Error;

/// Where GitHub's error bodies point.
pub(crate) const DOCS: &str = "https://docs.github.com/rest";

/// Starting a simulator failed.
#[derive(Debug, Error)]
pub enum SimError {
    /// The configuration is unusable.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The app key could not be generated, read or encoded.
    #[error("GitHub App key error: {0}")]
    Key(String),
    /// Binding or serving failed.
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One entry of a `validation-error` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `resource`.
    pub resource: String,
    /// `field`.
    pub field: String,
    /// `code` (`missing_field`, `invalid`, …).
    pub code: String,
}

/// An error answered by the API.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ApiError {
    /// 400, e.g. unparsable JSON or an unsupported API version.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, unknown or expired credentials, or a bad JWT.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: not an owner, missing scope or permission, team sync.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("Not Found")]
    NotFound,
    /// 422 with a plain message (the seat endpoints' preconditions).
    #[error("{0}")]
    Unprocessable(String),
    /// 422 `validation-error` with field errors.
    #[error("{message}")]
    Validation {
        /// `message`.
        message: String,
        /// `errors[]`.
        errors: Vec<FieldError>,
    },
    /// A 5xx.
    #[error("{1}")]
    Server(u16, String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unprocessable(_) | ApiError::Validation { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Server(code, _) => {
                StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// A 422 for a body field that breaks the request schema.
    pub(crate) fn invalid_field(resource: &str, field: &str, code: &str, message: &str) -> Self {
        ApiError::Validation {
            message: message.to_string(),
            errors: vec![FieldError {
                resource: resource.to_string(),
                field: field.to_string(),
                code: code.to_string(),
            }],
        }
    }
}

/// A `basic-error` body.
pub(crate) fn basic_error(status: StatusCode, message: &str) -> Value {
    json!({
        "message": message,
        "documentation_url": DOCS,
        "status": status.as_u16().to_string(),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Validation { message, errors } => json!({
                "message": message,
                "errors": errors.iter().map(|e| json!({
                    "resource": e.resource,
                    "field": e.field,
                    "code": e.code,
                })).collect::<Vec<_>>(),
                "documentation_url": DOCS,
                "status": "422",
            }),
            other => basic_error(status, &other.to_string()),
        };
        json_response(status, &body)
    }
}

/// A JSON response with GitHub's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
