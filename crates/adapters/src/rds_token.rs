//! The password of an IAM database login: a SigV4-presigned `connect` URL
//! for `rds-db`, valid 15 minutes (RDS user guide, "Connecting to your DB
//! cluster using IAM authentication"), signed with the SDK's signer as
//! aws-sdk-rds's `AuthTokenGenerator` signs it. That crate holds the whole
//! RDS API, the largest crate of every build, and this was all the
//! registry used of it; the test below is its own.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// How long RDS accepts a token (its maximum).
const LIFETIME: Duration = Duration::from_secs(900);

/// The token (the presigned URL without its scheme) for `user` at
/// `host:port`, signed at `now`.
pub(crate) fn auth_token(
    credentials: Credentials,
    region: &str,
    host: &str,
    port: u16,
    user: &str,
    now: SystemTime,
) -> Result<String, String> {
    let identity: Identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(LIFETIME);
    settings.signature_location = SignatureLocation::QueryParams;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?;
    let address = format!("https://{host}:{port}/?Action=connect&DBUser={user}");
    let request = SignableRequest::new("GET", &address, std::iter::empty(), SignableBody::empty())
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params.into())
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut url = url::Url::parse(&address).map_err(|e| e.to_string())?;
    for (name, value) in instructions.params() {
        url.query_pairs_mut().append_pair(name, value);
    }
    Ok(url.as_str()["https://".len()..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-sdk-rds's own test of `AuthTokenGenerator`: the same token.
    #[test]
    fn tokens_are_the_sdks() {
        let token = auth_token(
            Credentials::new("akid", "secret", None, None, "test"),
            "us-east-1",
            "prod-instance.us-east-1.rds.amazonaws.com",
            3306,
            "peccy",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600),
        )
        .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }
}
