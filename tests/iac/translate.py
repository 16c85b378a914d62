"""Translate the SAM template to plain CloudFormation, offline.

`sam validate` checks the SAM dialect; only the translated CloudFormation shows
what will really be created (roles, permissions, routes) and lets cfn-lint find
circular dependencies and cfn-guard check the resources as deployed.

Usage: python tests/iac/translate.py TEMPLATE OUTPUT.json
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template


class OfflinePolicyLoader:
    """The template names managed policies by ARN only, so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def load_template(path: Path) -> dict[str, Any]:
    return yaml_parse(path.read_text(encoding="utf-8"))


def stand_in_packaged_code(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUris at S3, as `sam package` would after uploading the build."""
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = "s3://offline-artifacts/workspace.zip"
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = f"s3://offline-artifacts/{logical_id}.zip"
    return template


def default_parameter_values(template: dict[str, Any]) -> dict[str, Any]:
    """The values CloudFormation would hand the transform for a deploy with no overrides."""
    return {
        name: parameter["Default"]
        for name, parameter in (template.get("Parameters") or {}).items()
        if "Default" in parameter
    }


def translate(
    template: dict[str, Any], parameter_values: dict[str, Any] | None = None, region: str | None = None
) -> dict[str, Any]:
    """Return the CloudFormation that AWS::Serverless-2016-10-31 expands `template` to, as
    CloudFormation runs the transform: with the stack's parameter values (the defaults unless
    given) in its region (the environment's unless given)."""
    fragment = stand_in_packaged_code(copy.deepcopy(template))
    values = dict(default_parameter_values(template) if parameter_values is None else parameter_values)
    # What samtranslator's own transform() does, with the region's session.
    to_py27_compatible_template(fragment, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated = translator.translate(fragment, parameter_values=values,
                                      get_managed_policy_map=OfflinePolicyLoader().load)
    return undo_mark_unicode_str_in_template(translated)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, target = Path(argv[1]), Path(argv[2])
    try:
        translated = translate(load_template(source))
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"{source}: {cause.message}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(translated, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    resources = translated["Resources"]
    print(f"{source} -> {target}: {len(resources)} CloudFormation resources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
