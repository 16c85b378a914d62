"""Post-deploy smoke test of a deployed Face Registry stack (needs AWS credentials).

Reads the stack name from samconfig.toml for the environment, then checks what
the stack's outputs promise: the API answers (health public, data behind the
JWT authorizer), the bucket is private and KMS-encrypted, the collection, user
pool groups and dashboard exist.

Usage: python tests/iac/smoke.py --config-env dev|prod [--stack-name NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 30


def stack_name_for(config_env: str) -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    try:
        return config[config_env]["global"]["parameters"]["stack_name"]
    except KeyError:
        raise SystemExit(f"samconfig.toml has no stack_name for environment {config_env!r}") from None


def http_get(url: str) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": "application/json, text/html"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode("utf-8", "replace")


class Smoke:
    def __init__(self, stack_name: str) -> None:
        self.stack_name = stack_name
        self.session = boto3.session.Session()
        stack = self.session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        self.status = stack["StackStatus"]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def stack_is_complete(self) -> None:
        assert self.status in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}, self.status
        missing = {"ApiUrl", "PhotoBucketName", "FaceCollectionId", "DashboardUrl", "UserPoolId", "UserPoolClientId"} - set(self.outputs)
        assert not missing, f"outputs missing: {sorted(missing)}"

    def health_is_public_and_healthy(self) -> None:
        status, content_type, body = http_get(self.outputs["ApiUrl"] + "/healthz")
        assert status == 200, f"/healthz answered {status}: {body[:200]}"
        assert "json" in content_type, content_type
        json.loads(body)

    def api_requires_a_token(self) -> None:
        for path in ("/api/faces", "/api/faces/1"):
            status, _, _ = http_get(self.outputs["ApiUrl"] + path)
            assert status == 401, f"{path} without a token answered {status}, not 401"

    def pages_are_served(self) -> None:
        for path in ("/faces", "/upload"):
            status, content_type, _ = http_get(self.outputs["ApiUrl"] + path)
            assert status == 200 and "html" in content_type, f"{path}: {status} {content_type}"

    def bucket_is_private_and_encrypted(self) -> None:
        s3 = self.session.client("s3")
        bucket = self.outputs["PhotoBucketName"]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()), block
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", rule
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"

    def collection_exists(self) -> None:
        self.session.client("rekognition").describe_collection(CollectionId=self.outputs["FaceCollectionId"])

    def user_groups_exist(self) -> None:
        groups = self.session.client("cognito-idp").list_groups(UserPoolId=self.outputs["UserPoolId"])["Groups"]
        assert {"admins", "viewers"} <= {g["GroupName"] for g in groups}, groups

    def dashboard_exists(self) -> None:
        name = self.outputs["DashboardUrl"].rsplit("name=", 1)[-1]
        self.session.client("cloudwatch").get_dashboard(DashboardName=name)

    def checks(self) -> list[Callable[[], None]]:
        return [
            self.stack_is_complete, self.health_is_public_and_healthy, self.api_requires_a_token,
            self.pages_are_served, self.bucket_is_private_and_encrypted, self.collection_exists,
            self.user_groups_exist, self.dashboard_exists,
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config-env", required=True, choices=["dev", "prod"])
    parser.add_argument("--stack-name", help="override the stack name from samconfig.toml")
    args = parser.parse_args()
    stack_name = args.stack_name or stack_name_for(args.config_env)
    try:
        smoke = Smoke(stack_name)
    except (BotoCoreError, ClientError) as error:
        print(f"cannot read stack {stack_name}: {error}", file=sys.stderr)
        return 1
    passed = failed = 0
    for check in smoke.checks():
        try:
            check()
        except (AssertionError, BotoCoreError, ClientError, urllib.error.URLError, ValueError) as error:
            failed += 1
            print(f"FAIL {check.__name__}: {error}")
        else:
            passed += 1
            print(f"ok   {check.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
