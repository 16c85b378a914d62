"""The functions' build artifacts, for `make build`.

`binaries TEMPLATE` prints the workspace binaries the template's functions
are built from (`--bin NAME` each), so that one cargo invocation builds them
all before `sam build` copies each.

`check TEMPLATE BUILD_DIR ZIP_DIR` verifies what `sam build` produced for
every function of TEMPLATE: a Linux arm64 (AArch64) ELF executable named
`bootstrap` in BUILD_DIR/<LogicalId>/, as provided.al2023 on Graviton expects.
Each is zipped (deflate, as `sam deploy` packages it) into ZIP_DIR/<binary>.zip
and the sizes are printed.

Usage: python tests/iac/artifacts.py binaries TEMPLATE
       python tests/iac/artifacts.py check TEMPLATE BUILD_DIR ZIP_DIR
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from samcli.yamlhelper import yaml_parse

ELF_MAGIC = b"\x7fELF"
ELF_CLASS_64 = 2
ELF_LITTLE_ENDIAN = 1
ELF_TYPE_EXECUTABLE = {2, 3}  # ET_EXEC, ET_DYN (static-pie)
ELF_MACHINE_AARCH64 = 183


class ArtifactError(Exception):
    pass


def function_binaries(template_path: Path) -> dict[str, str]:
    """Map each function's workspace binary to its logical id."""
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    functions = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id)
        functions[binary] = logical_id
    return functions


def built_functions(build_dir: Path) -> dict[str, Path]:
    """Map each function's binary name to its artifact directory, from the built template."""
    built = function_binaries(build_dir / "template.yaml")
    return {binary: build_dir / logical_id for binary, logical_id in built.items()}


def check_bootstrap(path: Path) -> None:
    """Fail unless `path` is a 64-bit little-endian AArch64 ELF executable."""
    if not path.is_file():
        raise ArtifactError(f"{path}: missing")
    with path.open("rb") as binary:
        header = binary.read(20)
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        raise ArtifactError(f"{path}: not an ELF file")
    if header[4] != ELF_CLASS_64 or header[5] != ELF_LITTLE_ENDIAN:
        raise ArtifactError(f"{path}: not a 64-bit little-endian ELF")
    elf_type = int.from_bytes(header[16:18], "little")
    machine = int.from_bytes(header[18:20], "little")
    if elf_type not in ELF_TYPE_EXECUTABLE:
        raise ArtifactError(f"{path}: ELF type {elf_type} is not an executable")
    if machine != ELF_MACHINE_AARCH64:
        raise ArtifactError(f"{path}: ELF machine {machine} is not AArch64 ({ELF_MACHINE_AARCH64})")


def write_zip(directory: Path, zip_path: Path) -> int:
    """Zip the artifact directory into `zip_path`; return the zip's size."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(directory))
    return zip_path.stat().st_size


def check(expected: list[str], build_dir: Path, zip_dir: Path) -> int:
    try:
        functions = built_functions(build_dir)
    except FileNotFoundError:
        print(f"{build_dir}: no built template; run `make build` first", file=sys.stderr)
        return 1
    failures = []
    print(f"{'function':<10} {'bootstrap':>12} {'zip':>12}")
    for name in expected:
        directory = functions.get(name)
        if directory is None:
            failures.append(f"{name}: not in {build_dir}/template.yaml")
            continue
        bootstrap = directory / "bootstrap"
        # Nothing else is deployed: e.g. the local database's CA, which
        # `make sam-env-vars` copies beside a bootstrap for `sam local invoke`.
        others = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p != bootstrap)
        if others:
            failures.append(f"{name}: {directory} holds more than bootstrap: {', '.join(others)}; run `sam build` again")
            continue
        try:
            check_bootstrap(bootstrap)
        except ArtifactError as error:
            failures.append(str(error))
            continue
        size = write_zip(directory, zip_dir / f"{name}.zip")
        print(f"{name:<10} {bootstrap.stat().st_size:>12,} {size:>12,}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"{len(expected)} arm64 functions, zipped in {zip_dir}")
    return 0


def main(argv: list[str]) -> int:
    match argv[1:]:
        case ["binaries", template]:
            print(" ".join(f"--bin {binary}" for binary in function_binaries(Path(template))))
            return 0
        case ["check", template, build_dir, zip_dir]:
            expected = list(function_binaries(Path(template)))
            return check(expected, Path(build_dir), Path(zip_dir))
        case _:
            print("\n".join(__doc__.strip().splitlines()[-2:]), file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
