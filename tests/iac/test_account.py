"""The template deployed into a local account as CloudFormation and the
account would take it (tests/iac/account.py): two stacks side by side in a new
account, parameters at the edges of what they allow, the regions the stack
names, and the faults each rule exists for.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import cfnlint.data.schemas
import pytest

from account import (
    API_LIMITS, Account, DeployError, Quotas, load_template, main, missing_types, partition_of,
)
from translate import translate

with warnings.catch_warnings():
    # The parser `re` itself uses: what a pattern allows, read from its parse.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-west-1"
PROD = {"Stage": "prod", "AlarmEmail": "ops@example.org"}
# An account whose concurrency quota was raised to the standard 1,000, for
# the tests that reserve concurrency on purpose (a new account's is reduced).
ROOMY = Quotas(lambda_concurrency=1000)


def write_template(tmp_path: Path, template: dict[str, Any]) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(template), encoding="utf-8")  # JSON is YAML
    return path


# ------------------------------------------------------ two stacks, names ---


def test_dev_and_prod_live_side_by_side_in_a_new_account() -> None:
    account = Account()
    account.deploy("face-registry-dev", REGION)
    account.deploy("face-registry-prod", REGION, PROD)
    assert account.stacks.keys() == {(REGION, "face-registry-dev"), (REGION, "face-registry-prod")}


def test_a_name_sam_generates_for_both_stacks_collides(tmp_path: Path) -> None:
    # The fault this check exists for: a ScheduleV2 without Name is named
    # after its event by SAM, the same in every stack.
    template = load_template(TEMPLATE)
    del template["Resources"]["ReconcileFunction"]["Properties"]["Events"]["Every10Minutes"]["Properties"]["Name"]
    path = write_template(tmp_path, template)
    account = Account()
    account.deploy("face-registry-dev", REGION, template_path=path)
    with pytest.raises(DeployError, match="ReconcileFunctionEvery10Minutes.* already exists"):
        account.deploy("face-registry-prod", REGION, PROD, template_path=path)


def test_the_same_stack_lives_in_two_regions_of_one_account() -> None:
    # Dashboards are unique per account, not per region: a dashboard named
    # after the stack alone collided here.
    account = Account()
    account.deploy("face-registry-dev", REGION)
    account.deploy("face-registry-dev", "eu-central-1")


def test_bucket_names_are_unique_across_accounts() -> None:
    mine = Account(account_id="111111111111")
    mine.deploy("face-registry-dev", REGION)
    theirs = Account(account_id="222222222222", taken_elsewhere={
        key for key in mine.stacks[(REGION, "face-registry-dev")].names if key.scope == ("aws",)})
    # The bucket names hold the account id: another account's stack of the same name fits.
    theirs.deploy("face-registry-dev", REGION)


def test_a_stack_name_longer_than_its_bucket_names_allow_is_refused() -> None:
    # <stack>-<account>-<region>-photos: 63 characters at most (S3), so 28 for
    # the stack in the regions with the longest names.
    region = max(rule_regions(), key=len)
    Account().deploy("s" * 28, region)
    with pytest.raises(DeployError, match="BucketName.*longer than 63"):
        Account().deploy("s" * 29, region)


def test_an_upper_case_stack_name_is_refused() -> None:
    # Bucket names are lower case; RDS lower-cases the cluster identifier,
    # so the database's log groups would not be the ones it writes to.
    with pytest.raises(DeployError, match="BucketName"):
        Account().deploy("Face-Registry", REGION)


# ------------------------------------------------------------- parameters ---


def longest_match(pattern: str, unbounded: int = 20) -> str:
    """The longest string `pattern` fully matches (unbounded repeats taken
    `unbounded` times), built from its parsed form."""

    def build(items: Any) -> str:
        return "".join(single(op, av) for op, av in items)

    def pick(members: list[Any]) -> str:
        negate = any(op is sre_constants.NEGATE for op, _ in members)
        chars = []
        for op, av in members:
            if op is sre_constants.LITERAL:
                chars.append(chr(av))
            elif op is sre_constants.RANGE:
                chars.append(chr(av[0]))
            elif op is sre_constants.CATEGORY:
                chars.append({sre_constants.CATEGORY_DIGIT: "0", sre_constants.CATEGORY_WORD: "a"}.get(av, " "))
        if not negate:
            return chars[0]
        return next(c for c in "aZ0" if c not in chars)

    def single(op: Any, av: Any) -> str:
        if op is sre_constants.LITERAL:
            return chr(av)
        if op is sre_constants.IN:
            return pick(av)
        if op is sre_constants.ANY:
            return "a"
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, item = av
            return build(item) * (unbounded if high == sre_constants.MAXREPEAT else high)
        if op is sre_constants.SUBPATTERN:
            return build(av[-1])
        if op is sre_constants.BRANCH:
            return max((build(branch) for branch in av[1]), key=len)
        if op in (sre_constants.AT, sre_constants.ASSERT_NOT):
            return ""
        raise NotImplementedError(f"{op} in {pattern}")

    value = build(sre_parse.parse(pattern))
    assert re.fullmatch(pattern, value), (pattern, value)
    return value


def edge_values(template: dict[str, Any]) -> dict[str, str]:
    """Every parameter at the far edge of what it allows."""
    values = {}
    for name, declaration in template["Parameters"].items():
        if "AllowedValues" in declaration:
            values[name] = max((str(v) for v in declaration["AllowedValues"]), key=len)
        elif "AllowedPattern" in declaration:
            values[name] = longest_match(declaration["AllowedPattern"])
        elif "MaxValue" in declaration:
            values[name] = str(declaration["MaxValue"])
        elif "MinValue" in declaration:
            values[name] = str(declaration["MinValue"])
    return values


def test_longest_match_finds_the_edge_of_the_patterns_used() -> None:
    assert longest_match(r"^[a-z][a-z0-9]{0,9}$") == "a" * 10
    assert longest_match(r"^$|^[1-9][0-9]{0,3}$") == "1000"
    assert longest_match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", unbounded=2) == "aa@aa.aa"


def test_every_parameter_at_its_edge_deploys_beside_the_defaults() -> None:
    template = load_template(TEMPLATE)
    edges = edge_values(template)
    # The options the rules ask more values for, all on.
    edges |= {"EnableAlb": "true", "EnablePublicPhotoPreview": "true", "Stage": "prod", "DbIamAuth": "true"}
    # The edges reserve 1,000 executions a function: an account whose quota
    # was raised to give them.
    account = Account(quotas=Quotas(lambda_concurrency=10_000))
    region = max(rule_regions(), key=len)
    account.deploy("s" * 28, region, edges)
    account.deploy("face-registry-dev", region)


def test_a_user_prefix_too_long_for_the_master_user_is_refused(tmp_path: Path) -> None:
    # The fault this check exists for: the pattern allowed 16 characters, and
    # <prefix>_admin may have 16 at most (CreateDBCluster).
    template = load_template(TEMPLATE)
    template["Parameters"]["DbUserPrefix"]["AllowedPattern"] = r"^[a-z][a-z0-9_]{0,15}$"
    path = write_template(tmp_path, template)
    with pytest.raises(DeployError, match="MasterUsername 'abcdefghijk_admin' is longer than 16"):
        Account().deploy("face-registry-dev", REGION, {"DbUserPrefix": "abcdefghijk"}, template_path=path)


def test_the_api_limits_are_only_what_the_schemas_lack() -> None:
    # A limit the schema states is checked by cfn-lint: the table holds the rest.
    schemas = Path(cfnlint.data.schemas.__file__).parent / "resources"
    by_type = {}
    for path in schemas.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(schema, dict) and "typeName" in schema:
            by_type[schema["typeName"]] = schema
    for limit in API_LIMITS:
        declared = by_type[limit.resource_type]["properties"][limit.prop]
        assert limit.max_length is not None and declared.get("maxLength") != limit.max_length, limit
        assert limit.source, limit


def test_unknown_or_invalid_parameters_are_refused() -> None:
    with pytest.raises(DeployError, match="do not exist"):
        Account().deploy("face-registry-dev", REGION, {"NoSuchParameter": "1"})
    with pytest.raises(DeployError, match="DbUserPrefix"):
        Account().deploy("face-registry-dev", REGION, {"DbUserPrefix": "registry_users"})
    with pytest.raises(DeployError, match="ProdNeedsAlarmEmail"):
        Account().deploy("face-registry-prod", REGION, {"Stage": "prod"})


# ---------------------------------------------------------------- quotas ---


def test_a_new_account_refuses_any_reservation() -> None:
    with pytest.raises(DeployError, match=r"below its minimum value of \[10\]"):
        Account().deploy("face-registry-dev", REGION, {"ApiReservedConcurrency": "1"})


def test_reservations_add_up_over_the_stacks_of_a_region() -> None:
    account = Account(quotas=ROOMY)
    reserve = {"ApiReservedConcurrency": "250"}
    account.deploy("face-registry-dev", REGION, reserve)  # 500 of 1000 (upload and faces), 100 left unreserved at least
    account.deploy("face-registry-dev", "eu-central-1", reserve)  # another region, another quota
    with pytest.raises(DeployError, match=r"below its minimum value of \[100\]"):
        account.deploy("face-registry-prod", REGION, PROD | reserve)


def test_the_functions_reserve_nothing_by_default() -> None:
    stack = Account().deploy("face-registry-dev", REGION)
    assert stack.reserved_concurrency == 0


# --------------------------------------------------------------- regions ---


def rule_regions() -> list[str]:
    [assertion] = load_template(TEMPLATE)["Rules"]["RegionOffersEveryService"]["Assertions"]
    regions, _ = assertion["Assert"]["Fn::Contains"]
    return regions


def test_the_regions_rule_names_every_region_that_has_every_resource_type() -> None:
    translated = translate(load_template(TEMPLATE))
    providers = Path(cfnlint.data.schemas.__file__).parent / "providers"
    regions = sorted(p.stem for p in providers.glob("*-*-*.json"))

    def offered(region: str) -> bool:
        # The commercial partition and GovCloud (US-West), whose ELB log
        # account the template maps; not the isolated, sovereign or China ones.
        commercial = partition_of(region) == "aws" and "-iso" not in region and not region.startswith("eusc-")
        return commercial or region == "us-gov-west-1"

    assert sorted(rule_regions()) == [r for r in regions if offered(r) and not missing_types(translated, r)]


def test_a_region_without_rekognition_is_refused_before_anything_is_created() -> None:
    with pytest.raises(DeployError, match="lacks a service the stack needs"):
        Account().deploy("face-registry-dev", "eu-west-3")


def test_without_the_rule_the_region_still_lacks_the_resource_type(tmp_path: Path) -> None:
    template = load_template(TEMPLATE)
    del template["Rules"]["RegionOffersEveryService"]
    path = write_template(tmp_path, template)
    with pytest.raises(DeployError, match=r"Unrecognized resource types: \[AWS::Rekognition::Collection\]"):
        Account().deploy("face-registry-dev", "eu-west-3", template_path=path)


def test_make_deploy_checks_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", "--config-env", "dev", "--region", "eu-west-3"]) == 1
    assert "cannot be deployed in eu-west-3" in capsys.readouterr().err
    assert main(["preflight", "--config-env", "prod", "AlarmEmail=ops@example.org"]) == 0
    # The variables `sam local invoke` points at the local services by.
    assert main(["preflight", "--config-env", "dev", "SamLocalInvoke=true"]) == 1
    assert "SamLocalInvoke=true is for sam local invoke" in capsys.readouterr().err


def test_the_samconfig_regions_are_ones_the_stack_can_use() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for environment in ("dev", "prod", "default"):
        assert config[environment]["global"]["parameters"]["region"] in rule_regions(), environment

