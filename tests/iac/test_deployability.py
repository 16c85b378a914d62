"""Faults that every offline lint accepts and AWS does not: a stack that waits
an hour for an answer that cannot come, data lost with the stack, a resource
created before what it needs. Each test states the AWS behaviour it relies on.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from account import Account, Resolver, partition_of

Template = dict[str, Any]

# Regions that offer Rekognition, with the name CloudFormation gives the bucket
# its custom-resource answers go to: the region without its dashes (CloudFormation
# user guide, "VPC endpoints": "When using custom resources, AWS Region names
# don't contain dashes. For example, uswest2").
RESPONSE_BUCKETS = {
    "us-east-1": "cloudformation-custom-resource-response-useast1",
    "eu-west-1": "cloudformation-custom-resource-response-euwest1",
    "ap-southeast-2": "cloudformation-custom-resource-response-apsoutheast2",
    "us-gov-west-1": "cloudformation-custom-resource-response-usgovwest1",
}


def resolve(template: Template, node: Any, region: str) -> Any:
    """`node` as the stack `face-registry` in `region` sees it."""
    return Resolver(template, Account().pseudo_parameters("face-registry", region)).resolve(node)


def props(template: Template, logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def depends_on(template: Template, logical_id: str) -> set[str]:
    value = template["Resources"][logical_id].get("DependsOn", [])
    return {value} if isinstance(value, str) else set(value)


@pytest.mark.parametrize("region", sorted(RESPONSE_BUCKETS))
def test_the_migrations_can_answer_cloudformation_through_the_endpoint(sam_template: Template, region: str) -> None:
    # The migrate function runs in private subnets whose only way to S3 is the
    # gateway endpoint: its policy must let the answer reach CloudFormation's bucket.
    statements = props(sam_template, "S3GatewayEndpoint")["PolicyDocument"]["Statement"]
    allowed = [
        resolve(sam_template, s["Resource"], region)
        for s in statements
        if s["Effect"] == "Allow" and "s3:PutObject" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    partition = partition_of(region)
    answer = f"arn:{partition}:s3:::{RESPONSE_BUCKETS[region]}/arn%3A{partition}%3Acloudformation/stack/answer"
    patterns = [r for resource in allowed for r in (resource if isinstance(resource, list) else [resource])]
    assert any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), answer) for p in patterns), patterns


def test_the_migrations_answer_before_cloudformation_gives_up(sam_template: Template) -> None:
    migrations = props(sam_template, "DatabaseMigrations")
    function = props(sam_template, "MigrateFunction")
    # ServiceTimeout: 1 to 3600 seconds, 3600 by default.
    timeout = int(migrations["ServiceTimeout"])
    assert function["Timeout"] < timeout <= function["Timeout"] + 120
    # CloudFormation invokes it asynchronously; a retry would run the
    # migrations again after the stack has moved on.
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def _invoked_by(cfn: Template, token: Any) -> tuple[str, str]:
    """The function and qualifier a custom resource's ServiceToken names."""
    if isinstance(token, dict) and "Fn::GetAtt" in token and token["Fn::GetAtt"][1] == "Arn":
        return token["Fn::GetAtt"][0], "$LATEST"
    if isinstance(token, dict) and "Ref" in token:
        alias = cfn["Resources"][token["Ref"]]
        assert alias["Type"] == "AWS::Lambda::Alias", token
        return alias["Properties"]["FunctionName"]["Ref"], alias["Properties"]["Name"]
    raise AssertionError(f"a ServiceToken that is not one of the stack's functions: {token}")


def test_custom_resources_invoke_what_their_event_invoke_config_configures(cfn_template: Template) -> None:
    # SAM gives a function's EventInvokeConfig to its alias when it has an
    # AutoPublishAlias; CloudFormation invokes what the ServiceToken names.
    # Invoking $LATEST there would be retried twice (Lambda's default),
    # after CloudFormation has its answer.
    resources = cfn_template["Resources"]
    customs = [r for r in resources.values() if r["Type"].startswith("Custom::")]
    assert customs
    for custom in customs:
        function, qualifier = _invoked_by(cfn_template, custom["Properties"]["ServiceToken"])
        configs = [
            r["Properties"] for r in resources.values()
            if r["Type"] == "AWS::Lambda::EventInvokeConfig"
            and r["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert [c["Qualifier"] for c in configs] == [qualifier], (function, configs)
        assert configs[0]["MaximumRetryAttempts"] == 0


def test_the_migrations_run_again_when_the_migrate_code_changes(cfn_template: Template) -> None:
    # The migrations are embedded in the migrate binary: the custom resource
    # names the version SAM publishes for each new build, so new code sends
    # it an Update (and the same code, none).
    resources = cfn_template["Resources"]
    properties = resources["DatabaseMigrations"]["Properties"]
    versions = [
        value["Ref"] for value in properties.values()
        if isinstance(value, dict) and resources.get(value.get("Ref", ""), {}).get("Type") == "AWS::Lambda::Version"
    ]
    assert len(versions) == 1, properties
    assert resources[versions[0]]["Properties"]["FunctionName"] == {"Ref": "MigrateFunction"}
    # Nothing else a deploy must change by hand.
    assert not any(name.startswith("Migrations") for name in cfn_template.get("Parameters", {}))


def test_the_migrations_keep_their_network_until_they_have_answered(sam_template: Template) -> None:
    # Deletion runs in reverse dependency order: what the function answers
    # through must outlive it, or CloudFormation waits for an answer that
    # cannot leave the VPC.
    needed = {
        "DbWriterInstance", "S3GatewayEndpoint", "SecretsManagerEndpoint",
        "PrivateSubnetARouteTable", "PrivateSubnetBRouteTable",
        "AppToDatabaseEgress", "AppToEndpointsEgress",
    }
    assert needed <= depends_on(sam_template, "DatabaseMigrations")


def test_deleting_the_stack_keeps_the_photos_and_the_key_that_reads_them(sam_template: Template) -> None:
    # RetainExceptOnCreate: kept on stack deletion, removed only when the
    # create that made them rolls back, so that retrying a failed first
    # create does not collide with a bucket of the same fixed name.
    for bucket in ("PhotoBucket", "LogBucket"):
        resource = sam_template["Resources"][bucket]
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", bucket
        assert resource["UpdateReplacePolicy"] == "Retain", bucket
    # The photos and the final snapshot are encrypted with this key: deleting
    # it would make them unreadable once its pending window ends.
    key = sam_template["Resources"]["RegistryKey"]
    assert key["DeletionPolicy"] in {"Retain", "RetainExceptOnCreate"}
    assert key["UpdateReplacePolicy"] == "Retain"
    assert sam_template["Resources"]["DbCluster"]["DeletionPolicy"] == "Snapshot"


def test_the_load_balancer_waits_for_the_internet_gateway(sam_template: Template) -> None:
    # An internet-facing load balancer needs the gateway attached (CloudFormation
    # user guide, DependsOn: "Elastic Load Balancing load balancers").
    assert "InternetGatewayAttachment" in depends_on(sam_template, "Alb")


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Policies"]:
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            found.append(statement)
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_indexer_may_read_the_version_it_indexes(sam_template: Template) -> None:
    # IndexFaces names the object's version; Rekognition reads that version
    # with the caller's permissions (s3:GetObjectVersion).
    actions = {a for s in _statements(props(sam_template, "IndexerFunction")) for a in _actions(s)}
    assert {"s3:GetObject", "s3:GetObjectVersion"} <= actions


def test_every_reader_of_a_secret_may_decrypt_it(sam_template: Template) -> None:
    # Secrets encrypted with a customer-managed key need kms:Decrypt on it too
    # (Secrets Manager API reference, GetSecretValue).
    for logical_id, resource in sam_template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        actions = {a for s in _statements(resource["Properties"]) for a in _actions(s)}
        if "secretsmanager:GetSecretValue" in actions:
            assert "kms:Decrypt" in actions, logical_id


def test_the_database_exports_its_logs_into_log_groups_of_the_stack(sam_template: Template) -> None:
    # Aurora exports to /aws/rds/cluster/<cluster>/<log> and uses a log group
    # that is already there; otherwise it makes one itself, never expiring,
    # without the stack's key and kept after it ("Publishing Aurora MySQL logs
    # to Amazon CloudWatch Logs"). The groups must exist before the cluster.
    cluster = props(sam_template, "DbCluster")
    identifier = cluster["DBClusterIdentifier"]["Fn::Sub"]
    groups = {
        resource["Properties"]["LogGroupName"]["Fn::Sub"]: logical_id
        for logical_id, resource in sam_template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup" and "Fn::Sub" in resource["Properties"]["LogGroupName"]
    }
    for log in cluster["EnableCloudwatchLogsExports"]:
        group = groups[f"/aws/rds/cluster/{identifier}/{log}"]
        assert props(sam_template, group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}, group
        assert props(sam_template, group)["KmsKeyId"] == {"Fn::GetAtt": ["RegistryKey", "Arn"]}, group
        assert group in depends_on(sam_template, "DbCluster"), group


def test_the_database_writes_what_it_exports_and_no_password(sam_template: Template) -> None:
    exports = props(sam_template, "DbCluster")["EnableCloudwatchLogsExports"]
    parameters = props(sam_template, "DbClusterParameters")["Parameters"]
    # "To publish logs to CloudWatch Logs, the respective logs must be
    # enabled": the slow query log is off by default.
    if "slowquery" in exports:
        assert parameters["slow_query_log"] == "1"
        assert parameters["log_output"] == "FILE"
    # The audit log records statements as sent, and AWS does not say it masks
    # passwords; the migrations set each function user's password (ALTER USER
    # ... IDENTIFIED BY) on every run: no DCL, and no QUERY (which holds it).
    events = parameters["server_audit_events"].split(",")
    assert not {"QUERY", "QUERY_DCL"} & set(events), events



def test_photo_events_wait_in_a_queue_the_indexer_can_keep_up_with(sam_template: Template) -> None:
    queue = props(sam_template, "IndexQueue")
    indexer = props(sam_template, "IndexerFunction")
    mappings = sam_template["Mappings"]
    # Lambda advises a visibility timeout of six times the function's
    # timeout, and refuses one below it.
    assert queue["VisibilityTimeout"] >= 6 * indexer["Timeout"]
    # The dead letters keep the first enqueue time: they must outlive the
    # queue's own retention (SQS developer guide).
    retention = int(mappings["IndexQueue"]["Retention"]["Seconds"])
    assert int(mappings["DeadLetters"]["Retention"]["Seconds"]) > retention
    # A million photos at 5 IndexFaces per second wait 56 hours.
    assert retention >= 56 * 3600
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    [event] = indexer["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "IndexerMaximumConcurrency"}}
    assert "ReservedConcurrentExecutions" not in indexer and "EventInvokeConfig" not in indexer
