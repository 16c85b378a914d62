"""artifacts.py accepts only what provided.al2023 on arm64 runs: a 64-bit
little-endian AArch64 ELF executable named bootstrap."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from artifacts import ArtifactError, check_bootstrap, main

BUILT_TEMPLATE = """\
Resources:
  HealthFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties: { Binary: health }
"""

UPLOAD_FUNCTION = """\
  UploadFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties: { Binary: upload }
"""


def elf_header(machine: int, elf_class: int = 2, elf_type: int = 3) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4] = elf_class
    header[5] = 1  # little-endian
    header[16:18] = elf_type.to_bytes(2, "little")
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_an_aarch64_executable_passes(tmp_path: Path) -> None:
    check_bootstrap(write(tmp_path / "bootstrap", elf_header(machine=183)))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (elf_header(machine=62), "not AArch64"),  # x86-64
        (elf_header(machine=183, elf_class=1), "not a 64-bit"),
        (elf_header(machine=183, elf_type=1), "not an executable"),  # relocatable object
        (b"#!/bin/sh\necho hello\n" + bytes(40), "not an ELF file"),
    ],
)
def test_anything_else_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    with pytest.raises(ArtifactError, match=reason):
        check_bootstrap(write(tmp_path / "bootstrap", content))


def test_the_host_binaries_are_not_arm64_functions(tmp_path: Path) -> None:
    true = shutil.which("true")
    assert true is not None
    with pytest.raises(ArtifactError):
        check_bootstrap(Path(true))


def test_main_zips_each_function_and_fails_on_a_missing_one(tmp_path: Path, capsys) -> None:
    build = tmp_path / "build"
    write(build / "template.yaml", BUILT_TEMPLATE.encode())
    write(build / "HealthFunction" / "bootstrap", elf_header(machine=183)).chmod(0o755)
    zips = tmp_path / "zip"

    template = write(tmp_path / "template.yaml", BUILT_TEMPLATE.encode())
    assert main(["artifacts.py", "binaries", str(template)]) == 0
    assert capsys.readouterr().out.split() == ["--bin", "health"]

    assert main(["artifacts.py", "check", str(template), str(build), str(zips)]) == 0
    with zipfile.ZipFile(zips / "health.zip") as archive:
        assert archive.namelist() == ["bootstrap"]
        # Lambda runs the bootstrap only if the zip keeps its execute bits.
        assert (archive.getinfo("bootstrap").external_attr >> 16) & 0o111 == 0o111
    assert "health" in capsys.readouterr().out

    with_upload = BUILT_TEMPLATE + UPLOAD_FUNCTION
    template = write(tmp_path / "template.yaml", with_upload.encode())
    assert main(["artifacts.py", "check", str(template), str(build), str(zips)]) == 1
    assert "upload: not in" in capsys.readouterr().err


def test_a_file_beside_the_bootstrap_is_not_deployed(tmp_path: Path, capsys) -> None:
    build = tmp_path / "build"
    write(build / "template.yaml", BUILT_TEMPLATE.encode())
    write(build / "HealthFunction" / "bootstrap", elf_header(machine=183)).chmod(0o755)
    write(build / "HealthFunction" / "local-database-ca.pem", b"-----BEGIN CERTIFICATE-----\n")
    template = write(tmp_path / "template.yaml", BUILT_TEMPLATE.encode())
    assert main(["artifacts.py", "check", str(template), str(build), str(tmp_path / "zip")]) == 1
    assert "holds more than bootstrap: local-database-ca.pem" in capsys.readouterr().err
    assert not (tmp_path / "zip" / "health.zip").exists()
