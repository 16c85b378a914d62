"""A local AWS account that takes deployments of `template.yaml` as
CloudFormation and the account take them, and refuses what they refuse at
deploy time, before anything would be created.

`sam validate`, cfn-lint and checkov read the template with its parameters
unresolved, one stack at a time, in no particular account: a name that is
too long once a parameter is at its edge, a name SAM generates that a second
stack also generates, a reservation a new account's quota cannot give, or a
resource type the region lacks all pass them. Here a deployment:

1. checks the stack name, the parameters and the template's `Rules` as
   CloudFormation does;
2. translates the template with SAM's own transform, with the stack's
   parameter values (what SAM adds, such as schedule names, is then seen);
3. resolves it for that stack, region and account: parameters, pseudo
   parameters, conditions, mappings (what only exists once resources are
   created, `Fn::GetAtt` and resource `Ref`s, stays as it is);
4. checks the region has every resource type (cfn-lint's per-region lists of
   AWS's resource provider schemas) and every resolved property against the
   schemas (cfn-lint) and against `API_LIMITS`, what AWS states only in its API
   references;
5. checks the account's quotas (Lambda concurrency) and that every name AWS
   keeps unique per account and region, per account, or across accounts is
   not already taken by another stack.

`make test` deploys `dev` and `prod` side by side into one account this way
(tests/iac/test_account.py); `make deploy` runs the same checks first
(`python tests/iac/account.py preflight`), so a fault of this kind stops before
`sam deploy` starts.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.api import lint
from cfnlint.config import ManualArgs
import cfnlint.data.schemas
from samtranslator.model.exceptions import InvalidDocumentException

sys.path.insert(0, str(Path(__file__).resolve().parent))

from translate import load_template, translate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

Template = dict[str, Any]


class DeployError(Exception):
    """What CloudFormation, a service or the account answers a deployment it refuses."""


# ---------------------------------------------------------------- limits ---


@dataclass(frozen=True)
class Limit:
    resource_type: str
    prop: str
    max_length: int | None = None
    pattern: str | None = None
    source: str = ""


# Limits that AWS states in its API references and that the resource provider
# schemas cfn-lint ships do not carry. The schemas' own limits (lengths,
# patterns, enumerations) are checked by cfn-lint on the resolved template.
API_LIMITS = (
    Limit(
        "AWS::RDS::DBCluster", "MasterUsername", max_length=16,
        # The API reference says "1 to 16 letters or numbers"; the resource
        # schema's pattern also takes `_` (^[a-zA-Z]{1}[a-zA-Z0-9_]*$), which
        # cfn-lint checks. The length is only in the API reference.
        source="RDS API Reference, CreateDBCluster, MasterUsername: 'Must be 1 to 16 letters or numbers.'",
    ),
    Limit(
        "AWS::ElasticLoadBalancingV2::TargetGroup", "Name", max_length=32,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        source="ELB API Reference, CreateTargetGroup, Name: 'a maximum of 32 characters, must contain only "
        "alphanumeric characters or hyphens, and must not begin or end with a hyphen'",
    ),
    Limit(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", "Name", max_length=32,
        pattern=r"^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        source="ELB API Reference, CreateLoadBalancer, Name: 'a maximum of 32 characters ... must not begin "
        "with internal-'",
    ),
    Limit(
        "AWS::Lambda::Function", "FunctionName", max_length=64, pattern=r"^[a-zA-Z0-9_-]+$",
        source="Lambda API Reference, CreateFunction, FunctionName: 'If you specify only the function name, "
        "it is limited to 64 characters in length.'",
    ),
)


# ----------------------------------------------------------------- names ---

# Where AWS keeps a name unique: "region" (per account and region), "account"
# (per account, every region: IAM, CloudWatch dashboards), "partition-region"
# (across every account in a region: Cognito domain prefixes), "partition"
# (across every account and region: S3 bucket names). `lower` names are
# compared without case (IAM; RDS stores identifiers in lower case).
@dataclass(frozen=True)
class NameRule:
    scope: str
    lower: bool = False
    # Another property that is part of the name's key (a schedule's group).
    within: tuple[str, str] | None = None


@dataclass(frozen=True)
class NameKey:
    scope: tuple[str, ...]  # (account, region), (account,), (partition, region) or (partition,)
    kind: str
    within: str  # what else the name is unique within (a schedule's group), or ""
    name: str


UNIQUE_NAMES: dict[tuple[str, str], NameRule] = {
    ("AWS::S3::Bucket", "BucketName"): NameRule("partition"),  # S3 bucket naming rules
    ("AWS::Cognito::UserPoolDomain", "Domain"): NameRule("partition-region"),
    ("AWS::IAM::Role", "RoleName"): NameRule("account", lower=True),  # IAM: unique in the account, no case
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): NameRule("account", lower=True),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): NameRule("account"),  # dashboards are global
    ("AWS::CloudWatch::Alarm", "AlarmName"): NameRule("region"),
    ("AWS::Logs::LogGroup", "LogGroupName"): NameRule("region"),
    ("AWS::Lambda::Function", "FunctionName"): NameRule("region"),
    ("AWS::Scheduler::Schedule", "Name"): NameRule("region", within=("GroupName", "default")),
    ("AWS::Scheduler::ScheduleGroup", "Name"): NameRule("region"),
    ("AWS::SNS::Topic", "TopicName"): NameRule("region"),
    ("AWS::SQS::Queue", "QueueName"): NameRule("region"),
    ("AWS::SecretsManager::Secret", "Name"): NameRule("region"),
    ("AWS::KMS::Alias", "AliasName"): NameRule("region"),
    ("AWS::RDS::DBCluster", "DBClusterIdentifier"): NameRule("region", lower=True),
    ("AWS::RDS::DBInstance", "DBInstanceIdentifier"): NameRule("region", lower=True),
    ("AWS::RDS::DBSubnetGroup", "DBSubnetGroupName"): NameRule("region", lower=True),
    ("AWS::RDS::DBClusterParameterGroup", "DBClusterParameterGroupName"): NameRule("region", lower=True),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "Name"): NameRule("region"),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "Name"): NameRule("region"),
    ("AWS::Rekognition::Collection", "CollectionId"): NameRule("region"),
}

# Name properties that AWS does not keep unique where two stacks meet, and why.
SHARED_NAMES: dict[tuple[str, str], str] = {
    ("AWS::EC2::SecurityGroup", "GroupName"): "unique per VPC; each stack has its own VPC",
    ("AWS::Cognito::UserPool", "UserPoolName"): "pools are known by id; names may repeat",
    ("AWS::Cognito::UserPoolClient", "ClientName"): "unique per user pool only",
    ("AWS::Cognito::UserPoolGroup", "GroupName"): "unique per user pool only",
    ("AWS::ApiGatewayV2::Api", "Name"): "APIs are known by id; names may repeat",
    ("AWS::ApiGatewayV2::Stage", "StageName"): "unique per API only",
    ("AWS::IAM::Role", "PolicyName"): "inline policies are unique per role only",
    ("AWS::Lambda::Permission", "FunctionName"): "names the function, not the permission",
    ("AWS::Lambda::EventInvokeConfig", "FunctionName"): "names the function",
    ("AWS::Lambda::Version", "FunctionName"): "names the function",
    ("AWS::Lambda::Alias", "FunctionName"): "names the function",
    ("AWS::Lambda::Alias", "Name"): "unique per function only",
    ("AWS::Lambda::EventSourceMapping", "FunctionName"): "names the function",
    ("AWS::Logs::SubscriptionFilter", "LogGroupName"): "names the log group",
    # PutQueryDefinition without a queryDefinitionId makes a new definition.
    ("AWS::Logs::QueryDefinition", "Name"): "definitions are known by id; names may repeat",
    ("AWS::Logs::QueryDefinition", "LogGroupNames"): "names the log groups",
    ("AWS::EC2::FlowLog", "LogGroupName"): "names the log group",
    ("AWS::EC2::VPCEndpoint", "ServiceName"): "names the AWS service",
    ("AWS::RDS::DBCluster", "DBSubnetGroupName"): "names the subnet group",
    ("AWS::RDS::DBCluster", "DBClusterParameterGroupName"): "names the parameter group",
    ("AWS::RDS::DBCluster", "DatabaseName"): "a database inside the cluster",
    ("AWS::RDS::DBInstance", "DBClusterIdentifier"): "names the cluster",
    ("AWS::RDS::DBInstance", "DBSubnetGroupName"): "names the subnet group",
    ("AWS::S3::Bucket", "DestinationBucketName"): "names the log bucket",
    ("AWS::SNS::Topic", "DisplayName"): "a label",
    ("AWS::CloudWatch::Alarm", "MetricName"): "names a metric",
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerName"): "not a property of this type",
}

NAME_PROPERTY = re.compile(r"(Name|Identifier|CollectionId|Domain)$")


# ---------------------------------------------------------------- quotas ---


@dataclass
class Quotas:
    """An account's quotas in one region. The defaults are a new account's."""

    # "New AWS accounts have reduced concurrency and memory quotas" (Lambda
    # quotas); AWS does not say how reduced: 10 is what new accounts report.
    lambda_concurrency: int = 10
    # "You can reserve up to the Unreserved account concurrency value minus
    # 100" (Lambda, configuring reserved concurrency); accounts whose quota is
    # below 100 report their whole quota as the minimum.
    lambda_unreserved_minimum: int | None = None

    def unreserved_minimum(self) -> int:
        if self.lambda_unreserved_minimum is not None:
            return self.lambda_unreserved_minimum
        return min(100, self.lambda_concurrency)


# ---------------------------------------------------------------- regions ---


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@cache
def region_types(region: str) -> frozenset[str]:
    """The resource types CloudFormation has in the region (cfn-lint's copy of
    AWS's per-region resource provider schemas)."""
    path = Path(cfnlint.data.schemas.__file__).parent / "providers" / f"{region}.json"
    if not path.exists():
        raise DeployError(f"{region} is not an AWS region")
    return frozenset(json.loads(path.read_text(encoding="utf-8")))


def missing_types(template: Template, region: str) -> list[str]:
    available = region_types(region)
    used = {r["Type"] for r in template["Resources"].values()}
    return sorted(t for t in used if not t.startswith("Custom::") and t not in available)


# ------------------------------------------------------------ parameters ---

STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")  # CreateStack: 128 characters, letters, digits, -


def parameter_values(template: Template, overrides: dict[str, str]) -> dict[str, str]:
    """Defaults and overrides, checked as CloudFormation checks them."""
    declared = template.get("Parameters") or {}
    for name in overrides:
        if name not in declared:
            raise DeployError(f"Parameters: [{name}] do not exist in the template")
    values = {}
    for name, declaration in declared.items():
        if name in overrides:
            value = str(overrides[name])
        elif "Default" in declaration:
            value = str(declaration["Default"])
        else:
            raise DeployError(f"Parameters: [{name}] must have values")
        problem = parameter_problem(declaration, value)
        if problem:
            raise DeployError(f"Parameter '{name}' {problem}")
        values[name] = value
    return values


def parameter_problem(declaration: dict[str, Any], value: str) -> str | None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return f"must be one of AllowedValues {allowed}"
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"failed to satisfy constraint: {declaration.get('ConstraintDescription', pattern)}"
    if "MaxLength" in declaration and len(value) > int(declaration["MaxLength"]):
        return f"must contain at most {declaration['MaxLength']} characters"
    if "MinLength" in declaration and len(value) < int(declaration["MinLength"]):
        return f"must contain at least {declaration['MinLength']} characters"
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            return f"must be a number not less than {declaration['MinValue']}"
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            return f"must be a number not greater than {declaration['MaxValue']}"
    return None


# -------------------------------------------------------------- resolving ---


class _NoValue:
    """`AWS::NoValue`: removes the property or list item it stands for."""


NO_VALUE = _NoValue()
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Everything a template's values need before any resource exists."""

    def __init__(self, template: Template, values: dict[str, Any]) -> None:
        self.template = template
        self.values = values  # parameters and pseudo parameters
        self.mappings = template.get("Mappings") or {}
        self.conditions = template.get("Conditions") or {}
        self._truth: dict[str, bool] = {}

    def check_rules(self) -> None:
        """CloudFormation's `Rules`: every assertion of a rule whose condition holds."""
        for name, rule in (self.template.get("Rules") or {}).items():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.truth(assertion["Assert"]):
                    raise DeployError(f"Template error: rule {name}: {assertion.get('AssertDescription', 'fails')}")

    def condition(self, name: str) -> bool:
        if name not in self._truth:
            self._truth[name] = self.truth(self.conditions[name])
        return self._truth[name]

    def truth(self, expression: Any) -> bool:
        [(key, argument)] = expression.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.truth(argument[0])
        if key == "Fn::And":
            return all(self.truth(a) for a in argument)
        if key == "Fn::Or":
            return any(self.truth(a) for a in argument)
        if key == "Fn::Contains":
            items, item = (self.resolve(a) for a in argument)
            return str(item) in [str(i) for i in items]
        raise DeployError(f"{key} is not a condition function")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.resolve(i) for i in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, argument)] = node.items()
            function = getattr(self, "_" + key.replace("::", "_"), None)
            if function is not None:
                return function(argument)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _Ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        return self.values.get(name, {"Ref": name})

    def _Fn_If(self, argument: list[Any]) -> Any:
        name, then, otherwise = argument
        return self.resolve(then if self.condition(name) else otherwise)

    def _Fn_Sub(self, argument: Any) -> Any:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def value(match: re.Match[str]) -> str:
            found = variables.get(match.group(1), self.values.get(match.group(1)))
            return found if isinstance(found, str) else match.group(0)

        text = SUB_VARIABLE.sub(value, text)
        unresolved = {k: v for k, v in variables.items() if not isinstance(v, str)}
        if SUB_VARIABLE.search(text):
            return {"Fn::Sub": [text, unresolved] if unresolved else text}
        return text.replace("${!", "${")

    def _Fn_Join(self, argument: list[Any]) -> Any:
        separator, items = argument[0], self.resolve(argument[1])
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return separator.join(items)
        return {"Fn::Join": [separator, items]}

    def _Fn_Split(self, argument: list[Any]) -> Any:
        separator, source = argument[0], self.resolve(argument[1])
        return source.split(separator) if isinstance(source, str) else {"Fn::Split": [separator, source]}

    def _Fn_Select(self, argument: list[Any]) -> Any:
        index, items = self.resolve(argument[0]), self.resolve(argument[1])
        if isinstance(items, list) and isinstance(index, (int, str)):
            return items[int(index)]
        return {"Fn::Select": [index, items]}

    def _Fn_FindInMap(self, argument: list[Any]) -> Any:
        name, first, second = (self.resolve(a) for a in argument[:3])
        if all(isinstance(k, str) for k in (name, first, second)):
            try:
                return self.mappings[name][first][second]
            except KeyError:
                raise DeployError(f"Fn::FindInMap: no {name}/{first}/{second} in Mappings") from None
        return {"Fn::FindInMap": [name, first, second]}


def resolve_template(template: Template, values: dict[str, Any]) -> Template:
    """The template as CloudFormation sees it for one stack: resources whose
    condition is false gone, conditions and parameters used up."""
    resolver = Resolver(template, values)
    resolved: Template = {key: template[key] for key in ("AWSTemplateFormatVersion",) if key in template}
    resolved["Resources"] = {}
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        resource = {k: v for k, v in resource.items() if k != "Condition"}
        resolved["Resources"][logical_id] = resolver.resolve(resource)
    present = set(resolved["Resources"])
    for resource in resolved["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d in present]
    outputs = {}
    for name, output in (template.get("Outputs") or {}).items():
        if "Condition" in output and not resolver.condition(output["Condition"]):
            continue
        outputs[name] = resolver.resolve({k: v for k, v in output.items() if k != "Condition"})
    if outputs:
        resolved["Outputs"] = outputs
    return resolved


# ------------------------------------------------------------- deploying ---


@dataclass
class Stack:
    name: str
    region: str
    template: Template  # resolved CloudFormation
    names: dict[NameKey, str]  # -> the logical id that gives it
    reserved_concurrency: int


@dataclass
class Account:
    """One AWS account: its stacks in every region, its quotas per region."""

    account_id: str = "123456789012"
    quotas: Quotas = field(default_factory=Quotas)
    stacks: dict[tuple[str, str], Stack] = field(default_factory=dict)
    # Names taken in the partition by other accounts (S3 bucket names).
    taken_elsewhere: set[NameKey] = field(default_factory=set)

    def deploy(self, stack_name: str, region: str, parameters: dict[str, str] | None = None,
               template_path: Path = TEMPLATE) -> Stack:
        """Create the stack as CloudFormation would, or raise what it would answer."""
        if not STACK_NAME.fullmatch(stack_name):
            raise DeployError(
                f"1 validation error detected: Value '{stack_name}' at 'stackName' failed to satisfy "
                "constraint: it must start with a letter and contain only letters, digits and hyphens "
                "(128 characters at most)")
        if (region, stack_name) in self.stacks:
            raise DeployError(f"Stack [{stack_name}] already exists")
        sam = load_template(template_path)
        values = parameter_values(sam, parameters or {})
        pseudo = self.pseudo_parameters(stack_name, region)
        Resolver(sam, {**values, **pseudo}).check_rules()
        try:
            translated = translate(sam, values, region)
        except InvalidDocumentException as error:
            raise DeployError("; ".join(cause.message for cause in error.causes)) from None
        missing = missing_types(translated, region)
        if missing:
            raise DeployError(
                f"Template format error: Unrecognized resource types: [{', '.join(missing)}] "
                f"({region} does not offer them; the regions this stack can use are the template's "
                "RegionOffersEveryService rule)")
        template = resolve_template(translated, {**values, **pseudo})
        check_properties(template, region)
        stack = Stack(stack_name, region, template, unique_names(template, region, self.account_id),
                      reserved_concurrency(template))
        self.check_quotas(stack)
        self.check_names(stack)
        self.stacks[(region, stack_name)] = stack
        return stack

    def pseudo_parameters(self, stack_name: str, region: str) -> dict[str, Any]:
        partition = partition_of(region)
        stack_id = f"arn:{partition}:cloudformation:{region}:{self.account_id}:stack/{stack_name}/{uuid.uuid4()}"
        return {
            "AWS::StackName": stack_name, "AWS::StackId": stack_id, "AWS::Region": region,
            "AWS::AccountId": self.account_id, "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
            "AWS::NotificationARNs": [],
        }

    def check_quotas(self, stack: Stack) -> None:
        # Lambda's quota is per region; a reservation that leaves less than the
        # minimum unreserved is refused (PutFunctionConcurrency, CreateFunction).
        others = sum(s.reserved_concurrency for (region, _), s in self.stacks.items() if region == stack.region)
        minimum = self.quotas.unreserved_minimum()
        if stack.reserved_concurrency and self.quotas.lambda_concurrency - others - stack.reserved_concurrency < minimum:
            raise DeployError(
                "Resource handler returned message: \"Specified ReservedConcurrentExecutions for function "
                "decreases account's UnreservedConcurrentExecution below its minimum value of "
                f"[{minimum}].\" (Service: Lambda, Status Code: 400) HandlerErrorCode: InvalidRequest "
                f"({stack.reserved_concurrency} reserved by {stack.name}, {others} by other stacks, "
                f"account concurrency {self.quotas.lambda_concurrency})")

    def check_names(self, stack: Stack) -> None:
        taken = {key: (s.name, logical_id) for s in self.stacks.values() for key, logical_id in s.names.items()}
        for key, logical_id in stack.names.items():
            if key in self.taken_elsewhere:
                raise DeployError(f"{logical_id}: {key.kind} {key.name} already exists in another account")
            if key in taken:
                other, other_id = taken[key]
                raise DeployError(
                    f"{logical_id}: Resource of type '{key.kind}' with identifier '{key.name}' already exists "
                    f"(stack {other}'s {other_id})")


def check_properties(template: Template, region: str) -> None:
    """The resolved properties against the resource schemas (cfn-lint) and API_LIMITS."""
    problems = []
    for match in lint(json.dumps(template), config=ManualArgs(regions=[region])):
        # Errors, and what cfn-lint can only warn of while a value is an
        # intrinsic function: "... when 'Fn::Sub' is resolved".
        if match.rule.id.startswith("E") or match.rule.id in {"W1030", "W1031", "W1032"}:
            path = "/".join(str(p) for p in match.path)
            problems.append(f"{match.rule.id} {path}: {match.message}")
    for logical_id, resource in template["Resources"].items():
        for limit in API_LIMITS:
            value = (resource.get("Properties") or {}).get(limit.prop)
            if resource["Type"] != limit.resource_type or not isinstance(value, str):
                continue
            if limit.max_length is not None and len(value) > limit.max_length:
                problems.append(f"{logical_id}.{limit.prop} {value!r} is longer than {limit.max_length} "
                                f"({limit.source})")
            if limit.pattern is not None and not re.fullmatch(limit.pattern, value):
                problems.append(f"{logical_id}.{limit.prop} {value!r} does not match {limit.pattern} "
                                f"({limit.source})")
    if problems:
        raise DeployError("Properties validation failed:\n  " + "\n  ".join(problems))


def unique_names(template: Template, region: str, account_id: str) -> dict[NameKey, str]:
    """Every name the stack gives that AWS keeps unique somewhere, keyed by where."""
    partition = partition_of(region)
    scopes = {
        "region": (account_id, region), "account": (account_id,),
        "partition-region": (partition, region), "partition": (partition,),
    }
    names: dict[NameKey, str] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        for prop, value in (resource.get("Properties") or {}).items():
            if not NAME_PROPERTY.search(prop) or (kind, prop) in SHARED_NAMES:
                continue
            rule = UNIQUE_NAMES.get((kind, prop))
            if rule is None:
                raise DeployError(
                    f"{logical_id}: no rule says where AWS keeps {kind}'s {prop} unique: "
                    "add it to UNIQUE_NAMES or SHARED_NAMES in tests/iac/account.py")
            if not isinstance(value, str):
                continue  # known only once another resource exists: unique by construction
            name = value.lower() if rule.lower else value
            within = ""
            if rule.within:
                within = str((resource.get("Properties") or {}).get(rule.within[0], rule.within[1]))
            names[NameKey(scopes[rule.scope], kind, within, name)] = logical_id
    return names


def reserved_concurrency(template: Template) -> int:
    return sum(
        int(resource["Properties"].get("ReservedConcurrentExecutions", 0))
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    )


# ------------------------------------------------------------- preflight ---


def samconfig(config_env: str, path: Path = ROOT / "samconfig.toml") -> tuple[str, str | None, dict[str, str]]:
    """The stack name, region and parameter overrides `sam deploy --config-env` takes."""
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    environment = config.get(config_env) or {}
    merged = {**(environment.get("global") or {}).get("parameters", {}),
              **(environment.get("deploy") or {}).get("parameters", {})}
    overrides = dict(item.split("=", 1) for item in shlex.split(merged.get("parameter_overrides", "")))
    return merged["stack_name"], merged.get("region"), overrides


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="account.py",
        description="Check a deployment as CloudFormation would, before sam deploy starts one.")
    sub = parser.add_subparsers(dest="command", required=True)
    preflight = sub.add_parser("preflight", help="the stack of a samconfig environment, in an empty account")
    preflight.add_argument("--config-env", required=True)
    preflight.add_argument("--region", help="the region sam deploy is given, if not samconfig's")
    preflight.add_argument("parameters", nargs="*", metavar="KEY=VALUE", help="sam deploy's parameter overrides")
    args = parser.parse_args(argv)
    stack_name, region, overrides = samconfig(args.config_env)
    region = args.region or region
    if not region:
        print(f"no region: set region in samconfig.toml [{args.config_env}.global.parameters] or REGION=",
              file=sys.stderr)
        return 2
    overrides |= dict(p.split("=", 1) for p in args.parameters)
    # The account's quotas are not known from here: reservations are not
    # checked, everything else is, as AWS checks it.
    account = Account(quotas=Quotas(lambda_concurrency=1_000_000, lambda_unreserved_minimum=0))
    try:
        stack = account.deploy(stack_name, region, overrides)
    except DeployError as error:
        print(f"{stack_name} cannot be deployed in {region}: {error}", file=sys.stderr)
        return 1
    print(f"{stack_name} in {region}: {len(stack.template['Resources'])} resources, their names and "
          f"properties as AWS takes them; {stack.reserved_concurrency} executions reserved")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
