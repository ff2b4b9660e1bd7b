"""What pyproject.toml promises each platform: no base dependency to compile, markers that say what is true.

`make wheels` asks the package index whether every base dependency has a
wheel for each platform (tools/check_wheels.py); these tests check, offline,
what that tool hands over and the promises it relies on.
"""

from __future__ import annotations

import tomllib

import pytest
from check_wheels import ROOT, TARGETS, requirements, tags
from packaging.specifiers import SpecifierSet

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(reqs: list[str]) -> set[str]:
    return {r.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip() for r in reqs}


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_the_supported_pythons_are_the_ones_declared(python: str) -> None:
    assert f"{python}.0" in SpecifierSet(PROJECT["requires-python"])
    assert f"Programming Language :: Python :: {python}" in PROJECT["classifiers"]


def test_the_vocoder_is_an_extra_not_a_base_dependency() -> None:
    assert "pyworld" not in names(PROJECT["dependencies"])
    assert "pyworld" in names(PROJECT["optional-dependencies"]["voice"])


@pytest.mark.parametrize("platform", sorted(TARGETS))
@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_yuface_is_asked_for_only_where_it_has_a_wheel(platform: str, python: str) -> None:
    wanted = "yuface" in names(requirements(platform, python))
    assert wanted == (python == "3.11" and platform in ("win_amd64", "manylinux_2_28_x86_64"))


def test_a_manylinux_target_takes_older_glibc_wheels() -> None:
    assert tags("manylinux_2_28_aarch64")[:2] == ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64"]
    assert {"manylinux_2_17_aarch64", "manylinux2014_aarch64"} <= set(tags("manylinux_2_28_aarch64"))
    assert tags("win_amd64") == ["win_amd64"]
