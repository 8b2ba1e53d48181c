"""The installed package (what the container image runs) carries every file the services load.

The Docker image installs the project with `pip install .`, so a file under services/ that
pyproject's package-data does not match exists in a checkout but not in the image: migrations
that never run, templates that are not found, a console without its scripts.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _package_data_patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns: list[str] = config["tool"]["setuptools"]["package-data"]["*"]
    return patterns


def test_every_non_python_file_under_services_is_package_data() -> None:
    patterns = _package_data_patterns()
    missing = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "services").rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".py", ".md"}  # code, and documentation read in the repository
        and not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    ]
    assert missing == [], f"not installed by `pip install .`; add a package-data pattern: {missing}"


def test_packages_are_found_by_the_setuptools_include() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = config["tool"]["setuptools"]["packages"]["find"]["include"]
    for init in (ROOT / "services").rglob("__init__.py"):
        package = ".".join(init.parent.relative_to(ROOT).parts)
        assert any(fnmatch.fnmatch(package, pattern) for pattern in includes), package
