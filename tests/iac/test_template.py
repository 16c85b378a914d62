"""The template's contract with the functions and with the accounts it lands in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from translate import translate

ROOT = Path(__file__).resolve().parents[2]
Template = dict[str, Any]

FUNCTIONS = {
    "UploadFunction": "upload",
    "FacesFunction": "faces",
    "HealthFunction": "health",
    "IndexerFunction": "indexer",
    "ReconcileFunction": "reconcile",
    "MigrateFunction": "migrate",
    "UserPoolSetupFunction": "user-pool-setup",
}
# Declared only for `sam local invoke` (SamLocalInvoke=true, which a deploy
# refuses), so that its --env-vars file can point a container at the local
# services; CloudFormation drops them (AWS::NoValue).
SAM_LOCAL_INVOKE_ENVIRONMENT = {
    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_REKOGNITION", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_SQS",
    "S3_FORCE_PATH_STYLE", "DB_TLS_CA_FILE",
}
COMMON_ENVIRONMENT = {
    "PHOTO_BUCKET", "FACE_COLLECTION", "DB_HOST", "DB_PORT", "DB_NAME", "DB_IAM_AUTH", "DB_SECRET_ARN",
    "METRICS_NAMESPACE", "RUST_LOG",
} | SAM_LOCAL_INVOKE_ENVIRONMENT
# What verifies the pool's tokens (API functions): the ID tokens the pages
# send, and behind the ALB the access token it forwards.
POOL_TOKEN_ENVIRONMENT = {"USER_POOL_KEYS", "USER_POOL_ISSUER", "USER_POOL_CLIENT_ID", "ALB_TOKEN_CLIENT_ID"}
# Each function signs in as a database user of its own; migrate as the master.
FUNCTION_ENVIRONMENT = {
    "UploadFunction": {"DB_USER", "UPLOAD_URL_TTL_SECONDS", "APP_ORIGIN", *POOL_TOKEN_ENVIRONMENT},
    "FacesFunction": {
        "DB_USER", "PHOTO_URL_TTL_SECONDS", "ENABLE_PUBLIC_PHOTO_PREVIEW", "PUBLIC_MEDIA_BASE_URL",
        "SIGN_IN_URL", "SIGN_IN_CLIENT_ID", "APP_ORIGIN", *POOL_TOKEN_ENVIRONMENT,
    },
    "HealthFunction": {"DB_USER"},
    "IndexerFunction": {"DB_USER"},
    "ReconcileFunction": {
        "DB_USER", "UPLOAD_URL_TTL_SECONDS", "RECONCILE_GRACE_SECONDS", "DEAD_LETTER_RETENTION_SECONDS",
    },
    "MigrateFunction": {"DB_APP_USERS"},
}
DATABASE_SECRETS = {
    "UploadFunction": "UploadDbSecret",
    "FacesFunction": "FacesDbSecret",
    "HealthFunction": "HealthDbSecret",
    "IndexerFunction": "IndexerDbSecret",
    "ReconcileFunction": "ReconcileDbSecret",
}
# (method, path) -> (function, authorized by the JWT authorizer)
ROUTES = {
    ("POST", "/api/uploads"): ("UploadFunction", True),
    ("POST", "/api/faces/{id}/photo"): ("UploadFunction", True),
    ("PATCH", "/api/faces/{id}"): ("UploadFunction", True),
    ("DELETE", "/api/faces/{id}"): ("UploadFunction", True),
    ("POST", "/api/faces/{id}/duplicate"): ("UploadFunction", True),
    ("GET", "/upload"): ("UploadFunction", False),
    ("GET", "/api/faces"): ("FacesFunction", True),
    ("GET", "/api/faces/{id}"): ("FacesFunction", True),
    ("POST", "/api/faces/{id}/export"): ("FacesFunction", True),
    ("GET", "/faces"): ("FacesFunction", False),
    ("GET", "/audit"): ("FacesFunction", False),
    ("GET", "/search"): ("FacesFunction", False),
    ("GET", "/api/audit"): ("FacesFunction", True),
    ("POST", "/api/search"): ("FacesFunction", True),
    ("GET", "/healthz"): ("HealthFunction", False),
    ("GET", "/auth/config"): ("FacesFunction", False),
    ("GET", "/api/openapi.json"): ("FacesFunction", False),
    ("POST", "/auth/sign-out"): ("FacesFunction", False),
}
# Properties that name things in the account: each must carry the stack name.
NAMING_PROPERTIES = {
    "BucketName", "FunctionName", "QueueName", "TopicName", "AlarmName", "GroupName", "LogGroupName",
    "DashboardName", "CollectionId", "UserPoolName", "ClientName", "AliasName", "DBClusterIdentifier",
    "DBInstanceIdentifier", "DBSubnetGroupName",
}
# Cognito group names live inside the stack's own user pool and are what the functions expect.
NAMES_SCOPED_BY_THEIR_PARENT = {("AdminsGroup", "GroupName"), ("ViewersGroup", "GroupName")}


def functions(template: Template) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_reconcile_waits_out_every_indexing_run_and_upload_url(cfn_template: Template) -> None:
    # Reconcile acts only on what stayed out of place for its grace period:
    # longer than an indexer run, so no face being recorded is deleted.
    resources = cfn_template["Resources"]
    reconcile = resources["ReconcileFunction"]["Properties"]
    grace = int(reconcile["Environment"]["Variables"]["RECONCILE_GRACE_SECONDS"])
    assert grace > int(resources["IndexerFunction"]["Properties"]["Timeout"])
    # Both read the upload URL's lifetime from one place.
    lifetime = {"Fn::FindInMap": ["UploadUrl", "Lifetime", "Seconds"]}
    assert reconcile["Environment"]["Variables"]["UPLOAD_URL_TTL_SECONDS"] == lifetime
    upload = resources["UploadFunction"]["Properties"]["Environment"]["Variables"]
    assert upload["UPLOAD_URL_TTL_SECONDS"] == lifetime
    # A plain key's digest is kept as long as a dead letter can be replayed.
    retention = {"Fn::FindInMap": ["DeadLetters", "Retention", "Seconds"]}
    assert reconcile["Environment"]["Variables"]["DEAD_LETTER_RETENTION_SECONDS"] == retention
    assert resources["IndexerDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == retention
    # One run at a time without reserving concurrency: each run ends before the next starts.
    assert "ReservedConcurrentExecutions" not in reconcile
    schedules = [
        r["Properties"] for r in resources.values()
        if r["Type"] == "AWS::Scheduler::Schedule"
        and r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
    ]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(10 minutes)"]
    assert reconcile["Timeout"] < 10 * 60


def test_functions_are_the_workspace_binaries(sam_template: Template) -> None:
    assert set(functions(sam_template)) == set(FUNCTIONS)
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))["workspace"]["members"]
    for logical_id, resource in functions(sam_template).items():
        binary = FUNCTIONS[logical_id]
        assert resource["Metadata"]["BuildMethod"] == "rust-cargolambda"
        assert resource["Metadata"]["BuildProperties"] == {"Binary": binary}
        assert f"functions/{binary}" in workspace
        package = tomllib.loads((ROOT / "functions" / binary / "Cargo.toml").read_text(encoding="utf-8"))
        assert package["package"]["name"] == binary
        assert "CodeUri" not in resource["Properties"], "CodeUri comes from Globals: the workspace root"


def test_function_runtime(sam_template: Template) -> None:
    defaults = sam_template["Globals"]["Function"]
    assert defaults["CodeUri"] == "."
    assert defaults["Runtime"] == "provided.al2023"
    assert defaults["Architectures"] == ["arm64"]
    assert defaults["Handler"] == "bootstrap"
    assert defaults["Tracing"] == "Active"
    for logical_id, resource in functions(sam_template).items():
        assert resource["Properties"]["LoggingConfig"]["LogFormat"] == "JSON", logical_id


def test_the_log_level_reaches_lambda_as_well_as_rust_log(sam_template: Template, cfn_template: Template) -> None:
    # Lambda keeps only JSON application logs at or above ApplicationLogLevel
    # (INFO by default): LogLevel must set it as well as RUST_LOG.
    allowed = sam_template["Parameters"]["LogLevel"]["AllowedValues"]
    levels = sam_template["Mappings"]["LogLevels"]
    assert sorted(levels) == sorted(allowed)
    assert all(levels[level]["Lambda"] == level.upper() for level in allowed)
    for logical_id in FUNCTIONS:
        logging = cfn_template["Resources"][logical_id]["Properties"]["LoggingConfig"]
        assert logging["ApplicationLogLevel"] == {"Fn::FindInMap": ["LogLevels", {"Ref": "LogLevel"}, "Lambda"]}, logical_id
        assert logging["LogFormat"] == "JSON", logical_id
        assert "LogGroup" in logging, logical_id


def test_environment_contract(cfn_template: Template) -> None:
    for logical_id in FUNCTIONS:
        variables = cfn_template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["METRICS_NAMESPACE"] == "FaceRegistry"
        for name in SAM_LOCAL_INVOKE_ENVIRONMENT:
            assert variables[name] == {"Fn::If": ["IsSamLocalInvoke", "", {"Ref": "AWS::NoValue"}]}, name
        if logical_id == "UserPoolSetupFunction":
            # The Globals, and the one pool, client and keys it may set up.
            assert set(variables) == COMMON_ENVIRONMENT - {"DB_SECRET_ARN"} | {
                "USER_POOL_ID", "USER_POOL_CLIENT_ID", "USER_POOL_JWKS_URL", "SIGN_IN_HOSTS",
            }
            assert variables["USER_POOL_CLIENT_ID"] == {"Ref": "UserPoolClient"}
            continue
        assert set(variables) == COMMON_ENVIRONMENT | FUNCTION_ENVIRONMENT.get(logical_id, set()), logical_id
        if logical_id == "MigrateFunction":
            assert variables["DB_SECRET_ARN"] == {"Fn::GetAtt": ["DbCluster", "MasterUserSecret.SecretArn"]}
            assert variables["DB_IAM_AUTH"] == "false"
        else:
            secret = DATABASE_SECRETS[logical_id]
            assert variables["DB_SECRET_ARN"] == {"Fn::If": ["UsesDbSecrets", {"Ref": secret}, {"Ref": "AWS::NoValue"}]}
            assert variables["DB_IAM_AUTH"] == {"Ref": "DbIamAuth"}


def test_routes_and_their_authorization(cfn_template: Template) -> None:
    body = cfn_template["Resources"]["HttpApi"]["Properties"]["Body"]
    routes = {}
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            function = next(f for f in FUNCTIONS if f"${{{f}.Arn}}" in uri)
            routes[(method.upper(), path)] = (function, operation["security"] == [{"CognitoJwt": []}])
    assert routes == ROUTES
    authorizer = body["components"]["securitySchemes"]["CognitoJwt"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["jwtConfiguration"]["audience"] == [{"Ref": "UserPoolClient"}]


def test_user_groups(sam_template: Template) -> None:
    groups = {
        v["Properties"]["GroupName"] for v in sam_template["Resources"].values()
        if v["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == {"admins", "viewers"}


def _naming_values(node: Any, path: tuple[str, ...] = ()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NAMING_PROPERTIES:
                yield path + (key,), value
            yield from _naming_values(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _naming_values(value, path + (str(index),))


def test_every_name_derives_from_the_stack_name(sam_template: Template) -> None:
    names = []
    for logical_id, resource in sam_template["Resources"].items():
        for path, value in _naming_values(resource.get("Properties", {})):
            if (logical_id, path[-1]) in NAMES_SCOPED_BY_THEIR_PARENT or path[-1] == "DBClusterIdentifier" and "Ref" in value:
                continue
            if path[-1] in {"FunctionName", "DBSubnetGroupName", "LogGroupName", "GroupName"} and isinstance(value, dict) and ("Ref" in value or "Fn::GetAtt" in value):
                continue  # a reference to a resource of this stack
            names.append((logical_id, ".".join(path), value))
    assert names, "the walk must find the names"
    for logical_id, path, value in names:
        assert isinstance(value, dict) and "${AWS::StackName}" in json.dumps(value), f"{logical_id}.{path} = {value!r}"


def test_stage_and_conditions(sam_template: Template) -> None:
    stage = sam_template["Parameters"]["Stage"]
    assert stage["AllowedValues"] == ["dev", "prod"]
    assert sam_template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    for parameter in ("EnableAlb", "EnablePublicPhotoPreview", "PublicMediaBaseUrl", "AlarmEmail", "AlbCertificateArn"):
        assert parameter in sam_template["Parameters"]
    cluster = sam_template["Resources"]["DbCluster"]["Properties"]
    assert cluster["DeletionProtection"] == {"Fn::If": ["IsProd", True, False]}
    assert cluster["ManageMasterUserPassword"] is True
    assert cluster["EnableIAMDatabaseAuthentication"] is True


def test_outputs(sam_template: Template) -> None:
    assert {"ApiUrl", "PhotoBucketName", "FaceCollectionId", "DashboardUrl", "UserPoolId", "UserPoolClientId"} <= set(
        sam_template["Outputs"]
    )


# Actions whose Resource types column is empty in the Service Authorization
# Reference: they can only be granted on "*".
# (docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrekognition.html)
ACTIONS_WITHOUT_RESOURCE_TYPES = {"rekognition:DetectFaces"}


def test_no_wildcard_actions_on_wildcard_resources(cfn_template: Template) -> None:
    for logical_id, resource in cfn_template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if statement.get("Resource") == "*":
                    assert set(actions) <= ACTIONS_WITHOUT_RESOURCE_TYPES, f"{logical_id}: {actions} on *"
                assert not any(a.endswith("*") for a in actions), f"{logical_id}: wildcard action {actions}"


def _cfn_lint(template: Template, tmp_path: Path, *regions: str) -> subprocess.CompletedProcess[str]:
    translated = tmp_path / "template.json"
    translated.write_text(json.dumps(translate(template)), encoding="utf-8")
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    region_args = ["--regions", *regions] if regions else []
    return subprocess.run(
        [str(cfn_lint), *region_args, "--", str(translated)], capture_output=True, text=True, check=False
    )


def test_the_translation_lint_catches_a_circular_dependency(mutable_template: Template, tmp_path: Path) -> None:
    # The classic mistake: the queue's policy names the bucket, which waits
    # for that policy (S3 checks it may send when the notification is set).
    statements = mutable_template["Resources"]["IndexQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"] = {"Fn::GetAtt": ["PhotoBucket", "Arn"]}
    result = _cfn_lint(mutable_template, tmp_path)
    assert result.returncode != 0
    assert "E3004" in result.stdout, result.stdout


# Regions that offer Rekognition (the collection exists only there).
def test_translation_is_clean_in_several_regions(sam_template: Template, tmp_path: Path) -> None:
    result = _cfn_lint(sam_template, tmp_path, "eu-west-1", "us-east-1", "ap-southeast-2", "ap-northeast-1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_operators_sign_in_with_a_public_client_at_the_pools_domain(sam_template: Template) -> None:
    resources = sam_template["Resources"]
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False, "the pages and tools keep no secret"
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    alb_page = {"Fn::If": ["HasAlb", {"Fn::Sub": "https://${AlbDomainName}/faces"}, {"Ref": "AWS::NoValue"}]}
    assert client["CallbackURLs"] == ["http://localhost:8085/callback", alb_page]
    assert client["LogoutURLs"] == ["http://localhost:8085/signed-out", alb_page]
    # The domain always exists; classic hosted UI (no branding style needed).
    domain = resources["UserPoolDomain"]
    assert "Condition" not in domain
    assert domain["Properties"]["ManagedLoginVersion"] == 1
    assert domain["Properties"]["Domain"]["Fn::If"][0] == "HasAuthDomainPrefix"
    pool = resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == {"Fn::If": ["HasOperatorMfa", {"Ref": "OperatorMfa"}, {"Fn::If": ["IsProd", "ON", "OPTIONAL"]}]}
    assert sam_template["Parameters"]["OperatorMfa"]["AllowedValues"] == ["", "OFF", "OPTIONAL", "ON"]


def test_the_custom_resource_gives_the_client_its_settings_whole(sam_template: Template) -> None:
    """UpdateUserPoolClient resets what it is not given: the settings the
    custom resource applies are the client's, with the API's URLs added."""
    resources = sam_template["Resources"]
    client = dict(resources["UserPoolClient"]["Properties"])
    custom = resources["UserPoolClientSettings"]["Properties"]
    assert custom["ServiceToken"] == {"Fn::GetAtt": ["UserPoolSetupFunction", "Arn"]}
    assert custom["UserPoolId"] == {"Ref": "UserPool"}
    assert custom["ClientId"] == {"Ref": "UserPoolClient"}
    settings = dict(custom["Settings"])
    api_page = {"Fn::Sub": "${HttpApi.ApiEndpoint}/faces"}
    for urls in ("CallbackURLs", "LogoutURLs"):
        assert settings.pop(urls) == client.pop(urls) + [api_page], urls
    # Only at creation; UpdateUserPoolClient does not take them.
    for creation_only in ("UserPoolId", "GenerateSecret"):
        client.pop(creation_only)
    assert settings == client
    function = resources["UserPoolSetupFunction"]["Properties"]
    assert "VpcConfig" not in function
    statements = function["Policies"][0]["Statement"]
    assert statements == [{
        "Sid": "SetClientSettings", "Effect": "Allow", "Action": "cognito-idp:UpdateUserPoolClient",
        "Resource": {"Fn::GetAtt": ["UserPool", "Arn"]},
    }]


def test_behind_the_alb_the_functions_verify_the_forwarded_access_token(sam_template: Template) -> None:
    resources = sam_template["Resources"]
    rules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"}
    by_path = {tuple(r["Conditions"][0]["PathPatternConfig"]["Values"]): r["Actions"] for r in rules.values()}
    # Public: health, the pages' sign-in configuration, the end of the ALB's
    # session and the API's description.
    assert [a["Type"] for a in by_path[("/healthz",)]] == ["forward"]
    assert [a["Type"] for a in by_path[("/auth/config", "/auth/sign-out", "/api/openapi.json")]] == ["forward"]
    for path, unauthenticated in [
        (("/upload",), "authenticate"), (("/faces", "/audit", "/search"), "authenticate"),
        (("/api/uploads",), "deny"), (("/api/faces", "/api/faces/*"), "deny"),
        (("/api/audit", "/api/search", "/api/faces/*/export"), "deny"),
        (("/api/faces/*",), "deny"),
    ]:
        authenticate, forward = by_path[path]
        config = authenticate["AuthenticateCognitoConfig"]
        assert authenticate["Type"] == "authenticate-cognito" and forward["Type"] == "forward", path
        # XHRs cannot follow a redirect to the sign-in: the API answers 401.
        assert config["OnUnauthenticatedRequest"] == unauthenticated, path
        assert config["UserPoolDomain"] == {"Ref": "UserPoolDomain"}, path
        assert config["UserPoolClientId"] == {"Ref": "AlbUserPoolClient"}, path
    # Writes to a person reach the upload function, before the faces rule reads.
    write = rules["AlbPeopleWriteRule"]
    assert write["Conditions"][1] == {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PATCH", "DELETE"]}}
    assert write["Actions"][1]["TargetGroupArn"] == {"Ref": "UploadTargetGroup"}
    assert write["Priority"] < rules["AlbFacesApiRule"]["Priority"]
    # An export is a POST to /api/faces/{id}/export, the faces function's.
    assert rules["AlbAuditSearchApiRule"]["Priority"] < write["Priority"]
    assert resources["AlbUserPoolClient"]["Properties"]["GenerateSecret"] is True, "the ALB needs a secret"
    # authenticate-cognito reaches Cognito from the ALB: HTTPS out, nothing else.
    egress = resources["AlbSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"], e["CidrIp"]) for e in egress] == [("tcp", 443, 443, "0.0.0.0/0")]
    # The pool's keys reach the API functions at deploy time.
    # With or without the ALB: the pages' ID tokens are verified with them too.
    keys = resources["UserPoolKeys"]
    assert "Condition" not in keys
    assert keys["Properties"]["JwksUrl"] == {"Fn::Sub": "${UserPool.ProviderURL}/.well-known/jwks.json"}
    assert keys["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["UserPoolSetupFunction", "Arn"]}
    for function in ("UploadFunction", "FacesFunction"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["USER_POOL_KEYS"] == {"Fn::GetAtt": ["UserPoolKeys", "Jwks"]}
        assert variables["USER_POOL_ISSUER"] == {"Fn::GetAtt": ["UserPool", "ProviderURL"]}
        assert variables["USER_POOL_CLIENT_ID"] == {"Ref": "UserPoolClient"}
        assert variables["ALB_TOKEN_CLIENT_ID"] == {"Fn::If": ["HasAlb", {"Ref": "AlbUserPoolClient"}, {"Ref": "AWS::NoValue"}]}


def test_access_logs_are_kept_as_long_as_a_parameter_says(sam_template: Template) -> None:
    # They name object keys, and keys name people: kept a bounded time,
    # short by default, then deleted a day later as noncurrent versions.
    parameter = sam_template["Parameters"]["AccessLogRetentionDays"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 90, 1)
    rules = sam_template["Resources"]["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (expiry,) = [rule for rule in rules if rule["Id"] == "expire-logs"]
    assert expiry["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert expiry["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    documented = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    assert "`AccessLogRetentionDays` | `90`" in documented


def test_the_documented_outputs_are_the_templates(sam_template: Template) -> None:
    documented = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    paragraph = documented.split("\nOutputs: ", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`(\w+)`", paragraph)) == set(sam_template["Outputs"])
