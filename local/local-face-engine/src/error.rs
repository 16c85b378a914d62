//! Errors as Rekognition names them, rendered the AWS JSON 1.1 way.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use crate::vision::VisionError;

/// An error returned to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidImageFormat(String),
    #[error("{0}")]
    ImageTooLarge(String),
    #[error("{0}")]
    InvalidS3Object(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidPaginationToken(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    UnrecognizedClient(String),
    #[error("{0}")]
    InvalidSignature(String),
    /// The message is logged, never returned.
    #[error("{0}")]
    Internal(String),
}

impl From<local_iam::sigv4::SignatureError> for ApiError {
    fn from(error: local_iam::sigv4::SignatureError) -> Self {
        use local_iam::sigv4::SignatureError as E;
        match error {
            E::MissingAuthenticationToken(m) => ApiError::MissingAuthenticationToken(m),
            E::UnrecognizedClient(m) => ApiError::UnrecognizedClient(m),
            E::InvalidSignature(m) => ApiError::InvalidSignature(m),
        }
    }
}

impl ApiError {
    /// The `__type` Rekognition uses for this error.
    pub fn type_name(&self) -> &'static str {
        match self {
            ApiError::InvalidParameter(_) => "InvalidParameterException",
            ApiError::InvalidImageFormat(_) => "InvalidImageFormatException",
            ApiError::ImageTooLarge(_) => "ImageTooLargeException",
            ApiError::InvalidS3Object(_) => "InvalidS3ObjectException",
            ApiError::AccessDenied(_) => "AccessDeniedException",
            ApiError::ResourceNotFound(_) => "ResourceNotFoundException",
            ApiError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            ApiError::InvalidPaginationToken(_) => "InvalidPaginationTokenException",
            ApiError::Serialization(_) => "SerializationException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            ApiError::UnrecognizedClient(_) => "UnrecognizedClientException",
            ApiError::InvalidSignature(_) => "InvalidSignatureException",
            ApiError::Internal(_) => "InternalServerError",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingAuthenticationToken(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "Internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => {
                ApiError::ResourceNotFound(format!("The collection id: {id} does not exist"))
            }
            StoreError::AlreadyExists(id) => {
                ApiError::ResourceAlreadyExists(format!("The collection id: {id} already exists"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<VisionError> for ApiError {
    fn from(error: VisionError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let type_name = self.type_name();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error_type = type_name, detail, "request failed");
        } else {
            tracing::info!(error_type = type_name, message = %self, "request rejected");
        }
        let body = serde_json::json!({ "__type": type_name, "message": self.public_message() });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(type_name));
        response
    }
}
