//! An administrator adds operators through Cognito's API, as `make
//! operator` does on AWS: `AdminCreateUser` (the invitation with a
//! temporary password, written to the pool's outbox locally) and
//! `AdminAddUserToGroup`, authorized by the caller's IAM policy.

use crate::common;

use aws_sdk_cognitoidentityprovider::Client;
use common::Harness;
use local_user_pool::UserStatus;

#[tokio::test]
async fn an_administrator_adds_an_operator_to_a_group() {
    let harness = Harness::start().await;
    let pool = harness.runtime.user_pool().expect("a user pool").clone();
    let cognito = Client::new(&harness.runtime.operator_sdk_config().await);

    let created = cognito
        .admin_create_user()
        .user_pool_id(pool.id())
        .username("Alice@Example.org")
        .desired_delivery_mediums(aws_sdk_cognitoidentityprovider::types::DeliveryMediumType::Email)
        .send()
        .await
        .expect("AdminCreateUser");
    let user = created.user().expect("the user");
    assert_eq!(
        user.user_status().map(|s| s.as_str()),
        Some("FORCE_CHANGE_PASSWORD")
    );
    cognito
        .admin_add_user_to_group()
        .user_pool_id(pool.id())
        .username("alice@example.org")
        .group_name("admins")
        .send()
        .await
        .expect("AdminAddUserToGroup");

    let alice = pool
        .users()
        .list()
        .into_iter()
        .find(|u| u.email == "alice@example.org")
        .expect("alice");
    assert_eq!(alice.groups, ["admins"]);
    assert_eq!(alice.status, UserStatus::ForceChangePassword);
    // The invitation Cognito would mail: her temporary password signs her in.
    let outbox = harness
        .options()
        .state
        .root
        .join("user-pools")
        .join(pool.id())
        .join("outbox");
    let invitation =
        std::fs::read_to_string(outbox.join("alice@example.org.txt")).expect("the invitation");
    let password = invitation
        .trim_end_matches('.')
        .rsplit(' ')
        .next()
        .expect("a password");
    assert!(
        pool.users()
            .authenticate("alice@example.org", password)
            .is_some()
    );

    // Refused as Cognito refuses them.
    let again = cognito
        .admin_create_user()
        .user_pool_id(pool.id())
        .username("alice@example.org")
        .send()
        .await
        .expect_err("she exists");
    assert!(again.into_service_error().is_username_exists_exception());
    let group = cognito
        .admin_add_user_to_group()
        .user_pool_id(pool.id())
        .username("alice@example.org")
        .group_name("root")
        .send()
        .await
        .expect_err("no such group");
    assert!(group.into_service_error().is_resource_not_found_exception());
    let nobody = cognito
        .admin_add_user_to_group()
        .user_pool_id(pool.id())
        .username("bob@example.org")
        .group_name("viewers")
        .send()
        .await
        .expect_err("no such user");
    assert!(nobody.into_service_error().is_user_not_found_exception());

    // A role that may change the pool's clients may not add operators (the
    // setup function, outside the VPC: the others have no route to Cognito).
    let setup = harness
        .runtime
        .lambda()
        .function("UserPoolSetupFunction")
        .expect("user-pool-setup");
    let denied = Client::new(&setup.sdk)
        .admin_create_user()
        .user_pool_id(pool.id())
        .username("mallory@example.org")
        .send()
        .await
        .expect_err("not allowed");
    let denied = denied.into_service_error();
    assert_eq!(denied.meta().code(), Some("AccessDeniedException"));
}
