//! How an administrator adds operators, as Cognito's API does it:
//! `AdminCreateUser` (a temporary password, to change at the first sign-in)
//! and `AdminAddUserToGroup`, authorized by the caller's IAM policy. What
//! Cognito would mail (the invitation with the temporary password) is
//! written to the pool's outbox folder, readable by its owner only.

use local_iam::Identity;
use local_iam::json_api::JsonError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::parse;
use crate::{UserError, UserPool};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUser {
    user_pool_id: String,
    username: String,
    #[serde(default)]
    user_attributes: Vec<Attribute>,
    temporary_password: Option<String>,
    message_action: Option<String>,
    #[serde(default)]
    desired_delivery_mediums: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attribute {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddToGroup {
    user_pool_id: String,
    username: String,
    group_name: String,
}

fn invalid(message: impl Into<String>) -> JsonError {
    JsonError::new("InvalidParameterException", message.into())
}

impl UserPool {
    fn this_pool(&self, id: &str) -> Result<(), JsonError> {
        if id == self.spec.id {
            Ok(())
        } else {
            Err(JsonError::new(
                "ResourceNotFoundException",
                format!("User pool {id} does not exist."),
            ))
        }
    }

    pub(crate) fn admin_create_user(
        &self,
        caller: &Identity,
        body: &[u8],
    ) -> Result<Value, JsonError> {
        let request: CreateUser = parse(body)?;
        self.authorize(caller, "cognito-idp:AdminCreateUser")?;
        self.this_pool(&request.user_pool_id)?;
        // The pool's usernames are e-mail addresses (UsernameAttributes: email).
        if let Some(email) = request.user_attributes.iter().find(|a| a.name == "email")
            && !email.value.eq_ignore_ascii_case(&request.username)
        {
            return Err(invalid("the email attribute differs from the username"));
        }
        if let Some(other) = request
            .user_attributes
            .iter()
            .find(|a| !["email", "email_verified"].contains(&a.name.as_str()))
        {
            return Err(invalid(format!(
                "the local pool keeps no attribute {}",
                other.name
            )));
        }
        let mail = match request.message_action.as_deref() {
            None => true,
            Some("SUPPRESS") => false,
            Some(other) => {
                return Err(invalid(format!(
                    "MessageAction {other} is not supported locally"
                )));
            }
        };
        if request
            .desired_delivery_mediums
            .iter()
            .any(|m| m != "EMAIL")
        {
            return Err(invalid("only EMAIL delivery is set up for this pool"));
        }
        let password = request
            .temporary_password
            .clone()
            .unwrap_or_else(|| self.users.policy().generate());
        let user = self
            .users
            .add(&request.username, &[], &password, false)
            .map_err(user_error)?;
        if mail {
            self.users
                .mail(
                    &user.email,
                    &format!(
                        "Your username is {} and temporary password is {password}.",
                        user.email
                    ),
                )
                .map_err(user_error)?;
        }
        Ok(json!({"User": {
            "Username": user.username,
            "Attributes": [
                {"Name": "sub", "Value": user.sub},
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            "Enabled": true,
            "UserStatus": "FORCE_CHANGE_PASSWORD",
            "UserCreateDate": chrono::Utc::now().timestamp(),
            "UserLastModifiedDate": chrono::Utc::now().timestamp(),
        }}))
    }

    pub(crate) fn admin_add_user_to_group(
        &self,
        caller: &Identity,
        body: &[u8],
    ) -> Result<Value, JsonError> {
        let request: AddToGroup = parse(body)?;
        self.authorize(caller, "cognito-idp:AdminAddUserToGroup")?;
        self.this_pool(&request.user_pool_id)?;
        self.users
            .add_to_group(&request.username, &request.group_name)
            .map_err(user_error)?;
        Ok(json!({}))
    }
}

/// Cognito's error codes and messages for what the users store refused.
fn user_error(error: UserError) -> JsonError {
    match error {
        UserError::Exists(_) => JsonError::new(
            "UsernameExistsException",
            "An account with the given email already exists.",
        ),
        UserError::InvalidEmail(_) => invalid("Username should be an email."),
        UserError::UnknownGroup(_) => {
            JsonError::new("ResourceNotFoundException", "Group not found.")
        }
        UserError::NotFound(_) => JsonError::new("UserNotFoundException", "User does not exist."),
        UserError::InvalidPassword(reason) => JsonError::new("InvalidPasswordException", reason),
        other => JsonError::new("InternalErrorException", other.to_string()),
    }
}
