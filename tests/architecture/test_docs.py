"""What the README and docs/ say of the project is true where a test can
tell: every `make` target they name exists, the functions they count are
the template's, the routes they name are its routes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "events" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as plain values."""


Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)


def make_targets() -> set[str]:
    targets = set()
    for makefile in [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]:
        for line in makefile.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^([a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)*)\s*:(?!=)", line)
            if match:
                targets.update(match.group(1).split())
    return targets


def test_every_make_target_the_docs_name_exists() -> None:
    targets = make_targets()
    for doc in DOCS:
        # In code: `make x`, or a line of a shell block that starts with it.
        named = re.findall(r"`make ([a-z][a-z0-9-]*)", doc.read_text(encoding="utf-8"))
        named += re.findall(r"(?m)^\s*make ([a-z][a-z0-9-]*)", doc.read_text(encoding="utf-8"))
        missing = sorted(set(named) - targets)
        assert not missing, f"{doc.relative_to(ROOT)} names make targets that do not exist: {missing}"


def test_the_functions_counted_are_the_templates() -> None:
    functions = [r for r in template()["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    for doc in DOCS:
        for word in re.findall(r"\b(\w+) (?:Lambda )?functions\b", doc.read_text(encoding="utf-8"), flags=re.I):
            if word.lower() in NUMBERS:
                assert NUMBERS[word.lower()] == len(functions), f"{doc.relative_to(ROOT)}: {word} functions"


def test_the_routes_the_readme_names_are_the_templates() -> None:
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for resource in template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(GET|POST|PATCH|DELETE|PUT) (/[^`?\s]*)", readme))
    assert named, "the README names routes"
    unknown = sorted(named - routes)
    assert not unknown, f"README.md names routes the template lacks: {unknown}"
