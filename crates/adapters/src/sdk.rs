//! Classifying AWS SDK errors for the ports.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use registry::ports::PortError;

/// Error codes that pass with time, whatever the service.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "LimitExceededException",
];

pub(crate) fn port_error<E, R>(service: &str, error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service_error) => {
            let code = service_error.err().code().unwrap_or_default();
            TRANSIENT_CODES.contains(&code)
        }
        _ => false,
    };
    let message = format!("{service}: {}", DisplayErrorContext(&error));
    if transient {
        PortError::Transient(message)
    } else {
        PortError::Permanent(message)
    }
}

/// The service's error code, when the service answered with one.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service_error) => service_error.err().code(),
        _ => None,
    }
}
