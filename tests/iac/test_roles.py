"""The local runtime (local/local-stack) gives each function the policies of the
role SAM makes for it: the function's own `Policies`, named
`<Function>RolePolicy<n>`, and for an SQS on-failure destination
`<Function>EventInvokeConfigOnFailureSQSPolicy` (sqs:SendMessage on the
queue), and for an SQS event the managed `AWSLambdaSQSQueueExecutionRole`,
whose document local-stack holds. This checks that SAM's translation makes
exactly those, plus managed policies that grant nothing on the services the
local runtime authorizes (S3, Rekognition, Secrets Manager, KMS, SQS), so
that what is allowed locally is what is allowed in AWS.
"""

from __future__ import annotations

from typing import Any

Template = dict[str, Any]

# What SAM attaches to every function role here, and what they grant
# (AWS managed policy reference): CloudWatch Logs, X-Ray, and the network
# interfaces of a function in a VPC. None of it reaches the emulated services.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # logs:*
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # xray:*
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",  # ec2 ENIs, logs:*
}


def functions(template: Template) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_each_role_holds_the_functions_policies_and_the_on_failure_queue(
    sam_template: Template, cfn_template: Template
) -> None:
    for logical_id, function in functions(sam_template).items():
        role = cfn_template["Resources"][f"{logical_id}Role"]["Properties"]
        inline = {policy["PolicyName"]: policy["PolicyDocument"] for policy in role.get("Policies", [])}
        expected = {f"{logical_id}RolePolicy{n}": document for n, document in enumerate(function.get("Policies", []))}
        on_failure = function.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure is not None:
            assert on_failure["Type"] == "SQS", f"{logical_id}: the local runtime emulates SQS destinations only"
            expected[f"{logical_id}EventInvokeConfigOnFailureSQSPolicy"] = {
                "Statement": [{"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": on_failure["Destination"]}]
            }
        assert inline == expected, logical_id
        managed = MANAGED_POLICIES
        if any(event["Type"] == "SQS" for event in function.get("Events", {}).values()):
            # sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes: local-stack
            # gives the role this very document (SQS_EXECUTION_POLICY).
            managed = managed | {"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"}
        assert set(role.get("ManagedPolicyArns", [])) <= managed, logical_id
