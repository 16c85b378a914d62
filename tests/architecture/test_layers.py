"""The invariants ARCHITECTURE.md states, checked on the workspace as Cargo
sees it (`cargo metadata`) and on its sources: run by `make lint`."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Crates AWS's SDKs, the database driver and the Lambda runtime live in.
INFRASTRUCTURE = re.compile(r"^(aws-|aws_|sqlx|lambda_|lambda-|mysql)")


@cache
def packages() -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline", "--no-deps"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return {p["name"]: p for p in json.loads(out)["packages"]}


def folder(name: str) -> str:
    return str(Path(packages()[name]["manifest_path"]).parent.relative_to(ROOT))


def in_layer(layer: str) -> list[str]:
    return sorted(name for name in packages() if folder(name).startswith(layer + "/"))


def dependencies(name: str, kinds: tuple[str | None, ...] = (None, "build")) -> set[str]:
    """What `name` builds with (dev-dependencies left out unless asked)."""
    return {d["name"] for d in packages()[name]["dependencies"] if d["kind"] in kinds}


def test_the_layers_are_where_the_map_says() -> None:
    assert in_layer("crates") and in_layer("functions") and in_layer("local")
    assert set(in_layer("crates")) | set(in_layer("functions")) | set(in_layer("local")) == set(packages())


def test_the_product_does_not_know_the_local_runtime() -> None:
    # crates/ and functions/ are what is deployed; local/ only emulates AWS.
    # A product crate may test against an emulator, never build with one.
    local = set(in_layer("local"))
    for name in in_layer("crates") + in_layer("functions"):
        assert not dependencies(name) & local, (name, dependencies(name) & local)


def test_the_emulators_do_not_know_the_product() -> None:
    # Each local service emulates an AWS service for any client; only the
    # runtime that runs the product's handlers knows them.
    product = set(in_layer("crates")) | set(in_layer("functions"))
    for name in in_layer("local"):
        if name == "local-runtime":
            continue
        assert not dependencies(name, (None, "build", "dev")) & product, name


def test_the_domain_names_no_infrastructure() -> None:
    # The rules live in `registry`; AWS and SQL are the adapters' business.
    named = {d for d in dependencies("registry") if INFRASTRUCTURE.match(d)}
    assert not named, named
    assert not dependencies("registry") & set(packages()) - {"registry"}


def test_the_handlers_name_no_adapter() -> None:
    # The handlers are generic over the ports; the wiring picks adapters.
    deps = dependencies("registry-api")
    assert "registry-adapters" not in deps
    assert not {d for d in deps if d.startswith("aws-sdk") or d == "sqlx"}


def test_each_function_is_built_through_the_wiring_and_its_main_only_starts_up() -> None:
    for name in in_layer("functions"):
        assert "registry-wiring" in dependencies(name), name
        main = ROOT / folder(name) / "src" / "main.rs"
        sources = sorted((ROOT / folder(name) / "src").rglob("*.rs"))
        assert sources == [main], f"{name}: logic belongs in the library crates"
        lines = main.read_text(encoding="utf-8").count("\n")
        assert lines <= 30, f"{main.relative_to(ROOT)}: {lines} lines of start-up"


def test_every_module_says_why_it_exists() -> None:
    missing = []
    for name in packages():
        for source in (ROOT / folder(name) / "src").rglob("*.rs"):
            text = source.read_text(encoding="utf-8").lstrip()
            if not text.startswith("//!"):
                missing.append(str(source.relative_to(ROOT)))
    assert not missing, missing


def test_versions_are_pinned_once_for_the_workspace() -> None:
    for name, package in packages().items():
        manifest = tomllib.loads(Path(package["manifest_path"]).read_text(encoding="utf-8"))
        tables = [manifest.get(k, {}) for k in ("dependencies", "dev-dependencies", "build-dependencies")]
        tables += [t.get(k, {}) for t in manifest.get("target", {}).values() for k in ("dependencies", "dev-dependencies")]
        loose = [dep for table in tables for dep, spec in table.items()
                 if not (isinstance(spec, dict) and spec.get("workspace") is True)]
        assert not loose, f"{name}: {loose} (pin them in [workspace.dependencies])"
