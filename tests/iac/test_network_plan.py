"""config/vpc-config.json and config/security-groups.json describe the network
that template.yaml builds; these tests keep the data and the template in step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
Template = dict[str, Any]

# An egress rule that can match nothing: CloudFormation reads an empty egress
# list as "allow all", so groups without egress carry this one instead.
NO_EGRESS = ("icmp", 252, 86, "127.0.0.1/32")


@pytest.fixture(scope="module")
def vpc_plan() -> dict[str, Any]:
    return json.loads((ROOT / "config" / "vpc-config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sg_plan() -> dict[str, Any]:
    return json.loads((ROOT / "config" / "security-groups.json").read_text(encoding="utf-8"))


def of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def test_vpc(sam_template: Template, vpc_plan: dict[str, Any]) -> None:
    plan = vpc_plan["vpc"]
    vpc = sam_template["Resources"][plan["logicalId"]]["Properties"]
    assert vpc["CidrBlock"] == plan["cidr"]
    assert vpc["EnableDnsSupport"] is plan["dnsSupport"]
    assert vpc["EnableDnsHostnames"] is plan["dnsHostnames"]
    [flow_log] = of_type(sam_template, "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["ResourceId"] == {"Ref": plan["logicalId"]}
    assert flow_log["Properties"]["TrafficType"] == plan["flowLogs"]


def test_subnets(sam_template: Template, vpc_plan: dict[str, Any]) -> None:
    subnets = of_type(sam_template, "AWS::EC2::Subnet")
    assert set(subnets) == {s["logicalId"] for s in vpc_plan["subnets"]}
    zones = {s["az"] for s in vpc_plan["subnets"]}
    assert len(zones) == vpc_plan["availabilityZones"]
    associations = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in of_type(sam_template, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    for planned in vpc_plan["subnets"]:
        subnet = subnets[planned["logicalId"]]["Properties"]
        assert subnet["CidrBlock"] == planned["cidr"], planned["logicalId"]
        assert subnet["AvailabilityZone"] == {"Fn::Select": [planned["az"], {"Fn::GetAZs": ""}]}
        assert subnet["MapPublicIpOnLaunch"] is False
        assert associations[planned["logicalId"]] == vpc_plan["routes"][planned["tier"]]["routeTable"]


def test_routes_and_no_nat(sam_template: Template, vpc_plan: dict[str, Any]) -> None:
    routes = of_type(sam_template, "AWS::EC2::Route").values()
    default_routes = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in routes if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    }
    for tier, plan in vpc_plan["routes"].items():
        if plan["default"] is None:
            assert plan["routeTable"] not in default_routes, f"{tier} subnets must have no default route"
        else:
            assert plan["default"] == "internet-gateway"
            assert default_routes[plan["routeTable"]]["GatewayId"] == {"Ref": "InternetGateway"}
    assert len(of_type(sam_template, "AWS::EC2::NatGateway")) == vpc_plan["natGateways"]


def test_endpoints(sam_template: Template, vpc_plan: dict[str, Any]) -> None:
    endpoints = of_type(sam_template, "AWS::EC2::VPCEndpoint")
    assert set(endpoints) == {e["logicalId"] for e in vpc_plan["endpoints"]}
    groups = {k: v["Properties"]["GroupName"]["Fn::Sub"] for k, v in of_type(sam_template, "AWS::EC2::SecurityGroup").items()}
    private = [{"Ref": s["logicalId"]} for s in vpc_plan["subnets"] if s["tier"] == "private"]
    for planned in vpc_plan["endpoints"]:
        endpoint = endpoints[planned["logicalId"]]["Properties"]
        assert endpoint["ServiceName"] == {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{planned['service']}"}
        assert endpoint["VpcEndpointType"] == planned["type"]
        if planned["type"] == "Gateway":
            assert endpoint["RouteTableIds"] == [{"Ref": r} for r in planned["routeTables"]]
        else:
            assert endpoint["PrivateDnsEnabled"] is planned["privateDns"]
            assert endpoint["SubnetIds"] == private
            [group] = endpoint["SecurityGroupIds"]
            assert groups[group["Ref"]] == "${AWS::StackName}-" + planned["securityGroup"]


def _peer(rule: dict[str, Any], names: dict[str, str], key: str) -> str:
    if key in rule:
        return names[rule[key]["Ref"]]
    return rule["CidrIp"]


def template_rules(template: Template) -> dict[str, dict[str, set[tuple[str, int, str]]]]:
    """Each group's ingress and egress as (protocol, port, peer) with peers by plan name."""
    groups = of_type(template, "AWS::EC2::SecurityGroup")
    names = {k: v["Properties"]["GroupName"]["Fn::Sub"].removeprefix("${AWS::StackName}-") for k, v in groups.items()}
    rules: dict[str, dict[str, set[tuple[str, int, str]]]] = {n: {"ingress": set(), "egress": set()} for n in names.values()}

    def add(group: str, direction: str, rule: dict[str, Any]) -> None:
        if (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule.get("CidrIp")) == NO_EGRESS:
            return
        assert rule["FromPort"] == rule["ToPort"], f"{group}: the plan lists single ports"
        assert rule.get("Description"), f"{group}: every rule says why it exists"
        peer_key = "SourceSecurityGroupId" if direction == "ingress" else "DestinationSecurityGroupId"
        rules[group][direction].add((rule["IpProtocol"], rule["FromPort"], _peer(rule, names, peer_key)))

    for logical_id, group in groups.items():
        for direction, key in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
            for rule in group["Properties"].get(key, []):
                add(names[logical_id], direction, rule)
    for direction, resource_type in (("ingress", "AWS::EC2::SecurityGroupIngress"), ("egress", "AWS::EC2::SecurityGroupEgress")):
        for resource in of_type(template, resource_type).values():
            add(names[resource["Properties"]["GroupId"]["Ref"]], direction, resource["Properties"])
    return rules


def planned_rules(plan: dict[str, Any]) -> dict[str, dict[str, set[tuple[str, int, str]]]]:
    return {
        g["name"]: {
            "ingress": {(r["protocol"], r["port"], r["from"]) for r in g["ingress"]},
            "egress": {(r["protocol"], r["port"], r["to"]) for r in g["egress"]},
        }
        for g in plan["groups"]
    }


def test_security_group_names(sam_template: Template, sg_plan: dict[str, Any]) -> None:
    groups = of_type(sam_template, "AWS::EC2::SecurityGroup")
    assert set(groups) == {g["logicalId"] for g in sg_plan["groups"]}
    for planned in sg_plan["groups"]:
        group = groups[planned["logicalId"]]["Properties"]
        # Unique per stack, and the seed's name still readable in it.
        assert group["GroupName"] == {"Fn::Sub": "${AWS::StackName}-" + planned["name"]}
        assert group["GroupDescription"].startswith(planned["name"] + " - ")
        assert group["VpcId"] == {"Ref": "Vpc"}
        assert group["SecurityGroupEgress"], "an empty egress list would allow all egress"


def test_security_group_rules(sam_template: Template, sg_plan: dict[str, Any]) -> None:
    assert template_rules(sam_template) == planned_rules(sg_plan)


def test_rules_comparison_sees_a_difference(mutable_template: Template, sg_plan: dict[str, Any]) -> None:
    mutable_template["Resources"]["EndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"][0]["FromPort"] = 80
    mutable_template["Resources"]["EndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"][0]["ToPort"] = 80
    assert template_rules(mutable_template) != planned_rules(sg_plan)
