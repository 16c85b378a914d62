//! AWS Signature Version 4 verification of requests signed in the
//! `Authorization` header (the AWS JSON services: Rekognition, Secrets
//! Manager).
//!
//! The signature is recomputed with the `aws-sigv4` crate (the signer the AWS
//! SDKs use) from the caller's secret key, over exactly the headers the
//! client listed in `SignedHeaders`, and compared in constant time. The
//! credential scope must name a known access key, the service's region and
//! name, and the request time must be within five minutes, as AWS requires.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use chrono::{NaiveDateTime, TimeZone, Utc};
use http::{HeaderMap, Method, Uri};
use subtle::ConstantTimeEq;

use crate::identity::{Identity, KeyRing};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// A request whose signature does not hold, named as the AWS JSON services
/// name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    UnrecognizedClient(String),
    #[error("{0}")]
    InvalidSignature(String),
}

impl SignatureError {
    /// The error's `__type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SignatureError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            SignatureError::UnrecognizedClient(_) => "UnrecognizedClientException",
            SignatureError::InvalidSignature(_) => "InvalidSignatureException",
        }
    }
}

/// What a service checks signatures against.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub service: &'a str,
    pub region: &'a str,
}

/// The parts of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn invalid(message: impl Into<String>) -> SignatureError {
    SignatureError::InvalidSignature(message.into())
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, SignatureError> {
    let malformed = || invalid("Authorization header is not a valid AWS4-HMAC-SHA256 header");
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            invalid(format!(
                "Authorization header must use the {ALGORITHM} algorithm"
            ))
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(malformed)?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(malformed()),
        }
    }
    let scope: Vec<&str> = credential.ok_or_else(malformed)?.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(malformed());
    };
    if terminator != "aws4_request" {
        return Err(malformed());
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.ok_or_else(malformed)?.split(';').collect(),
        signature: signature.ok_or_else(malformed)?,
    })
}

fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ").ok()?;
    Some(Utc.from_utc_datetime(&naive).into())
}

/// Who signed the request, when the signature holds.
pub fn verify(
    keys: &KeyRing,
    scope: Scope<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Arc<Identity>, SignatureError> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            SignatureError::MissingAuthenticationToken("Missing Authentication Token".into())
        })?
        .to_str()
        .map_err(|_| invalid("Authorization header is not ASCII"))?;
    let auth = parse_authorization(header)?;
    let identity = keys.get(auth.access_key_id).ok_or_else(|| {
        SignatureError::UnrecognizedClient(
            "The security token included in the request is invalid.".into(),
        )
    })?;
    if auth.service != scope.service {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{}'.",
            scope.service
        )));
    }
    if auth.region != scope.region {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{}'; this endpoint serves '{}'.",
            auth.region, scope.region
        )));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| invalid("Request must carry an X-Amz-Date header"))?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        invalid(format!(
            "X-Amz-Date {amz_date:?} is not YYYYMMDD'T'HHMMSS'Z'"
        ))
    })?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(invalid("Credential date does not match X-Amz-Date"));
    }
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_CLOCK_SKEW {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is more than 5 minutes from the server's time"
        )));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(invalid("SignedHeaders must include host"));
    }

    // Hand the signer exactly the headers the client signed; it adds
    // x-amz-date itself from the signing time.
    let mut signed: Vec<(&str, String)> = Vec::with_capacity(auth.signed_headers.len());
    for name in auth.signed_headers.iter().filter(|n| **n != "x-amz-date") {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(format!("Signed header {name} is not ASCII")))?;
        if values.is_empty() {
            return Err(invalid(format!("Signed header {name} is missing")));
        }
        signed.push((name, values.join(",")));
    }
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = SignableRequest::new(
        method.as_str(),
        path_and_query,
        signed.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| invalid(format!("Request cannot be signed: {e}")))?;
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let credentials = Credentials::new(
        &identity.access_key_id,
        identity.secret_access_key(),
        None,
        None,
        "local-iam",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&credentials)
        .region(scope.region)
        .name(scope.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| invalid(format!("Request cannot be signed: {e}")))?;
    let expected = sign(request, &params.into())
        .map_err(|e| invalid(format!("Request cannot be signed: {e}")))?;
    if bool::from(
        expected
            .signature()
            .as_bytes()
            .ct_eq(auth.signature.as_bytes()),
    ) {
        Ok(identity)
    } else {
        Err(invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_is_parsed() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/rekognition/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc123";
        let auth = parse_authorization(header).unwrap();
        assert_eq!(
            auth,
            Authorization {
                access_key_id: "AKIDEXAMPLE",
                date: "20240102",
                region: "us-east-1",
                service: "rekognition",
                signed_headers: vec!["content-type", "host", "x-amz-date"],
                signature: "abc123",
            }
        );
        assert!(parse_authorization("Basic dXNlcjpwYXNz").is_err());
        assert!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=x"
            )
            .is_err()
        );
    }

    #[test]
    fn amz_date_is_parsed() {
        let time = parse_amz_date("20240102T030405Z").unwrap();
        let seconds = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(seconds, 1_704_164_645);
        assert!(parse_amz_date("2024-01-02").is_none());
    }
}
