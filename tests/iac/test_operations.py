"""What operators watch on AWS: the dashboard (rendered as CloudFormation
would render its body, with and without the ALB), its alarm and log
widgets, and the saved Logs Insights queries."""

from __future__ import annotations

import json
import re
from typing import Any

Template = dict[str, Any]

PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


def resources_of(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def render_sub(template: Template, text: str, variables: dict[str, Any], alb: bool) -> str:
    """`Fn::Sub` as CloudFormation renders it, with stand-ins for what is
    known only once deployed: a resource's name, an attribute's ARN."""

    def value(name: str) -> str:
        if name in variables:
            given = variables[name]
            if isinstance(given, dict) and "Fn::If" in given:
                condition, yes, no = given["Fn::If"]
                assert condition == "HasAlb", condition
                given = yes if alb else no
            if isinstance(given, dict) and "Fn::Sub" in given:
                return render_sub(template, given["Fn::Sub"], variables, alb)
            if isinstance(given, dict):
                return "deployed-" + next(iter(given.values()))[0]
            return given
        if name.startswith("AWS::"):
            return {"AWS::Region": "eu-west-1", "AWS::StackName": "face-registry"}[name]
        parameter = template["Parameters"].get(name)
        if parameter is not None:
            return str(parameter["Default"])
        resource, _, attribute = name.partition(".")
        assert resource in template["Resources"], f"${{{name}}} names nothing in the template"
        if attribute == "Arn":
            return f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{resource}"
        return f"{resource}" if not attribute else f"{resource}-{attribute}"

    return PLACEHOLDER.sub(lambda match: value(match.group(1)), text)


def dashboard(template: Template, alb: bool) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, variables = body
    return json.loads(render_sub(template, text, variables, alb))


def test_the_dashboard_body_is_json_with_and_without_the_alb(sam_template: Template) -> None:
    for alb in (False, True):
        widgets = dashboard(sam_template, alb)["widgets"]
        assert len(widgets) <= 500
        for widget in widgets:
            assert widget["type"] in {"metric", "alarm", "log"}, widget
            assert 1 <= widget["width"] <= 24 and widget["x"] + widget["width"] <= 24, widget


def test_the_alarm_widget_shows_every_alarm(sam_template: Template) -> None:
    alarms = resources_of(sam_template, "AWS::CloudWatch::Alarm")
    for alb in (False, True):
        (widget,) = [w for w in dashboard(sam_template, alb)["widgets"] if w["type"] == "alarm"]
        shown = {arn.rsplit(":", 1)[-1] for arn in widget["properties"]["alarms"]}
        expected = {name for name, alarm in alarms.items() if alb or alarm.get("Condition") != "HasAlb"}
        assert shown == expected
        assert len(widget["properties"]["alarms"]) <= 100


def function_log_groups(template: Template) -> set[str]:
    return {
        function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for function in resources_of(template, "AWS::Serverless::Function").values()
    }


def test_the_log_widgets_read_the_functions_log_groups(sam_template: Template) -> None:
    groups = function_log_groups(sam_template)
    logs = [w for w in dashboard(sam_template, False)["widgets"] if w["type"] == "log"]
    assert [w["properties"]["title"] for w in logs] == ["Errors, newest first", "Requests refused and photos rejected"]
    errors = set(re.findall(r"SOURCE '([^']+)'", logs[0]["properties"]["query"]))
    assert errors == groups, "every function's errors"
    for widget in logs:
        assert set(re.findall(r"SOURCE '([^']+)'", widget["properties"]["query"])) <= groups
        assert widget["properties"]["region"] == "eu-west-1"


def test_saved_queries_read_log_groups_of_the_stack(sam_template: Template) -> None:
    queries = resources_of(sam_template, "AWS::Logs::QueryDefinition")
    assert set(queries) == {"RequestByIdQuery", "RejectionsQuery", "SlowCallsQuery", "ErrorsByFunctionQuery"}
    log_groups = set(resources_of(sam_template, "AWS::Logs::LogGroup"))
    for name, query in queries.items():
        properties = query["Properties"]
        assert properties["Name"]["Fn::Sub"].startswith("${AWS::StackName}/"), name
        assert len(properties["Name"]["Fn::Sub"]) <= 255, name
        assert {group["Ref"] for group in properties["LogGroupNames"]} <= log_groups, name
    errors = {group["Ref"] for group in queries["ErrorsByFunctionQuery"]["Properties"]["LogGroupNames"]}
    assert errors == function_log_groups(sam_template)
    by_id = {group["Ref"] for group in queries["RequestByIdQuery"]["Properties"]["LogGroupNames"]}
    assert "ApiAccessLogGroup" in by_id, "API Gateway's requestId is in its access log"


def test_sam_logs_finds_each_functions_log_group(sam_template: Template) -> None:
    # `sam logs -n <Function>` reads the function's LoggingConfig.LogGroup,
    # and falls back to /aws/lambda/<function name>: both are the same here.
    for name, function in resources_of(sam_template, "AWS::Serverless::Function").items():
        group = sam_template["Resources"][function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        function_name = function["Properties"]["FunctionName"]["Fn::Sub"]
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}, name


def test_sam_sync_is_for_the_dev_stack_only() -> None:
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "samconfig.toml").read_text())
    assert "sync" not in config["prod"], "no sam sync against production"
    sync, deploy = config["dev"]["sync"]["parameters"], config["dev"]["deploy"]["parameters"]
    for key in ("capabilities", "parameter_overrides", "tags"):
        assert sync[key] == deploy[key], key
