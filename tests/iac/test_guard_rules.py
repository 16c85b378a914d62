"""The cfn-guard rules in config/guard hold for the template, and each one fails
when the promise it states is broken in a copy of the template."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from translate import translate

RULES = {
    "bucket_private", "bucket_encrypted", "bucket_tls_only",
    "database_encrypted", "database_not_public", "faces_db_sg_only_from_app",
    "functions_in_vpc", "functions_traced", "functions_log_retention",
    "alarm_function_errors", "alarm_function_throttles", "alarm_dead_letter_queue", "alarm_event_queue_age", "alarm_indexing_errors",
    "alarm_api_5xx", "alarm_api_latency", "alarm_alb_latency",
    "alarm_db_connections", "alarm_db_cpu", "alarms_notify_encrypted_topic", "alarm_reconcile_drift",
}

Template = dict[str, Any]


def props(template: Template, logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def test_template_keeps_every_promise(cfn_template: Template, run_guard) -> None:
    result = run_guard(cfn_template)
    assert result.failed == frozenset()
    assert result.passed == RULES, "every rule must apply to the template (none skipped)"


# ------------------------------------------------------------- mutations ---

def photo_bucket_public_access_allowed(t: Template) -> None:
    del props(t, "PhotoBucket")["PublicAccessBlockConfiguration"]


def log_bucket_public_policy_allowed(t: Template) -> None:
    props(t, "LogBucket")["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False


def photo_bucket_acls_enabled(t: Template) -> None:
    props(t, "PhotoBucket")["OwnershipControls"]["Rules"][0]["ObjectOwnership"] = "ObjectWriter"


def photo_bucket_without_kms(t: Template) -> None:
    props(t, "PhotoBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"] = [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]


def log_bucket_unencrypted(t: Template) -> None:
    del props(t, "LogBucket")["BucketEncryption"]


def photo_bucket_accepts_plain_http(t: Template) -> None:
    statements = props(t, "PhotoBucketPolicy")["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "DenyInsecureTransport"]


def log_bucket_without_policy(t: Template) -> None:
    del t["Resources"]["LogBucketPolicy"]
    # Nothing else may depend on the removed policy.
    t["Resources"]["Alb"].pop("DependsOn")


def database_unencrypted(t: Template) -> None:
    props(t, "DbCluster")["StorageEncrypted"] = False


def database_instance_public(t: Template) -> None:
    props(t, "DbWriterInstance")["PubliclyAccessible"] = True


def database_in_public_subnets(t: Template) -> None:
    props(t, "DbSubnetGroup")["SubnetIds"] = [{"Ref": "PublicSubnetA"}, {"Ref": "PublicSubnetB"}]


def db_sg_open_to_the_internet(t: Template) -> None:
    rule = props(t, "DbSecurityGroup")["SecurityGroupIngress"][0]
    del rule["SourceSecurityGroupId"]
    rule["CidrIp"] = "0.0.0.0/0"


def db_sg_open_to_the_alb(t: Template) -> None:
    props(t, "DbSecurityGroup")["SecurityGroupIngress"][0]["SourceSecurityGroupId"] = {"Ref": "AlbSecurityGroup"}


def db_sg_open_on_ssh(t: Template) -> None:
    props(t, "DbSecurityGroup")["SecurityGroupIngress"].append(
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "SourceSecurityGroupId": {"Ref": "AppSecurityGroup"}, "Description": "ssh"}
    )


def db_sg_extra_ingress_resource(t: Template) -> None:
    t["Resources"]["DbFromVpc"] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {"GroupId": {"Fn::GetAtt": ["DbSecurityGroup", "GroupId"]}, "IpProtocol": "tcp",
                       "FromPort": 3306, "ToPort": 3306, "CidrIp": "10.40.0.0/16"},
    }


def db_sg_renamed(t: Template) -> None:
    props(t, "DbSecurityGroup")["GroupName"] = {"Fn::Sub": "${AWS::StackName}-database"}


def indexer_outside_the_vpc(t: Template) -> None:
    del props(t, "IndexerFunction")["VpcConfig"]


def user_pool_setup_in_the_vpc_without_saying_why_not(t: Template) -> None:
    del t["Resources"]["UserPoolSetupFunction"]["Metadata"]["OutsideVpc"]


def user_pool_setup_said_outside_but_in_the_vpc(t: Template) -> None:
    props(t, "UserPoolSetupFunction")["VpcConfig"] = props(t, "UploadFunction")["VpcConfig"]


def health_in_public_subnets(t: Template) -> None:
    props(t, "HealthFunction")["VpcConfig"] = {
        "SecurityGroupIds": [{"Ref": "AppSecurityGroup"}],
        "SubnetIds": [{"Ref": "PublicSubnetA"}, {"Ref": "PublicSubnetB"}],
    }


def upload_with_another_security_group(t: Template) -> None:
    props(t, "UploadFunction")["VpcConfig"] = {
        "SecurityGroupIds": [{"Ref": "AlbSecurityGroup"}],
        "SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
    }


def upload_not_traced(t: Template) -> None:
    props(t, "UploadFunction")["Tracing"] = "PassThrough"


def faces_logs_kept_forever(t: Template) -> None:
    del props(t, "FacesLogGroup")["RetentionInDays"]


def migrate_logs_to_the_default_group(t: Template) -> None:
    del props(t, "MigrateFunction")["LoggingConfig"]


def health_logs_as_text(t: Template) -> None:
    props(t, "HealthFunction")["LoggingConfig"]["LogFormat"] = "Text"


def dead_letter_queue_unencrypted(t: Template) -> None:
    del props(t, "IndexerDeadLetterQueue")["KmsMasterKeyId"]


def alarm_topic_unencrypted(t: Template) -> None:
    del props(t, "AlarmTopic")["KmsMasterKeyId"]


def alarm_without_action(t: Template) -> None:
    del props(t, "DbCpuAlarm")["AlarmActions"]


def api_5xx_alarm_on_another_metric(t: Template) -> None:
    props(t, "Api5xxAlarm")["MetricName"] = "4xx"


def removing(logical_id: str) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        del t["Resources"][logical_id]

    mutate.__name__ = f"without_{logical_id}"
    return mutate


ALARMS = {
    "UploadErrorsAlarm": "alarm_function_errors",
    "FacesErrorsAlarm": "alarm_function_errors",
    "HealthErrorsAlarm": "alarm_function_errors",
    "IndexerErrorsAlarm": "alarm_function_errors",
    "ReconcileErrorsAlarm": "alarm_function_errors",
    "MigrateErrorsAlarm": "alarm_function_errors",
    "UserPoolSetupErrorsAlarm": "alarm_function_errors",
    "UploadThrottlesAlarm": "alarm_function_throttles",
    "FacesThrottlesAlarm": "alarm_function_throttles",
    "HealthThrottlesAlarm": "alarm_function_throttles",
    "IndexerThrottlesAlarm": "alarm_function_throttles",
    "ReconcileThrottlesAlarm": "alarm_function_throttles",
    "ReconcileDriftAlarm": "alarm_reconcile_drift",
    "MigrateThrottlesAlarm": "alarm_function_throttles",
    "UserPoolSetupThrottlesAlarm": "alarm_function_throttles",
    "IndexingErrorsAlarm": "alarm_indexing_errors",
    "DeadLetterQueueAlarm": "alarm_dead_letter_queue",
    "IndexQueueAgeAlarm": "alarm_event_queue_age",
    "Api5xxAlarm": "alarm_api_5xx",
    "ApiLatencyAlarm": "alarm_api_latency",
    "AlbLatencyAlarm": "alarm_alb_latency",
    "DbConnectionsAlarm": "alarm_db_connections",
    "DbCpuAlarm": "alarm_db_cpu",
}

BROKEN_PROMISES = [
    (photo_bucket_public_access_allowed, {"bucket_private"}),
    (log_bucket_public_policy_allowed, {"bucket_private"}),
    (photo_bucket_acls_enabled, {"bucket_private"}),
    (photo_bucket_without_kms, {"bucket_encrypted"}),
    (log_bucket_unencrypted, {"bucket_encrypted"}),
    (photo_bucket_accepts_plain_http, {"bucket_tls_only"}),
    (log_bucket_without_policy, {"bucket_tls_only"}),
    (database_unencrypted, {"database_encrypted"}),
    (database_instance_public, {"database_not_public"}),
    (database_in_public_subnets, {"database_not_public"}),
    (db_sg_open_to_the_internet, {"faces_db_sg_only_from_app"}),
    (db_sg_open_to_the_alb, {"faces_db_sg_only_from_app"}),
    (db_sg_open_on_ssh, {"faces_db_sg_only_from_app"}),
    (db_sg_extra_ingress_resource, {"faces_db_sg_only_from_app"}),
    (db_sg_renamed, {"faces_db_sg_only_from_app"}),
    (indexer_outside_the_vpc, {"functions_in_vpc"}),
    (user_pool_setup_in_the_vpc_without_saying_why_not, {"functions_in_vpc"}),
    (user_pool_setup_said_outside_but_in_the_vpc, {"functions_in_vpc"}),
    (health_in_public_subnets, {"functions_in_vpc"}),
    (upload_with_another_security_group, {"functions_in_vpc"}),
    (upload_not_traced, {"functions_traced"}),
    (faces_logs_kept_forever, {"functions_log_retention"}),
    (migrate_logs_to_the_default_group, {"functions_log_retention"}),
    (health_logs_as_text, {"functions_log_retention"}),
    (dead_letter_queue_unencrypted, {"alarm_dead_letter_queue"}),
    (alarm_topic_unencrypted, {"alarms_notify_encrypted_topic"}),
    (alarm_without_action, {"alarms_notify_encrypted_topic"}),
    (api_5xx_alarm_on_another_metric, {"alarm_api_5xx"}),
    *[(removing(alarm), {rule}) for alarm, rule in ALARMS.items()],
]


def test_every_rule_is_proven_to_fail() -> None:
    proven = set().union(*(rules for _, rules in BROKEN_PROMISES))
    assert proven == RULES


def test_every_alarm_is_required(sam_template: Template) -> None:
    alarms = {k for k, v in sam_template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == set(ALARMS)


@pytest.mark.parametrize(
    ("mutate", "failing"), BROKEN_PROMISES, ids=[m.__name__ for m, _ in BROKEN_PROMISES]
)
def test_rule_fails_when_its_promise_is_broken(
    mutable_template: Template, run_guard, mutate: Callable[[Template], None], failing: set[str]
) -> None:
    mutate(mutable_template)
    result = run_guard(translate(mutable_template))
    assert result.failed == failing
