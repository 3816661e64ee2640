"""The import contracts in pyproject.toml hold, and would catch an import that breaks them.

docs/architecture.md says why the layers are what they are; this is what keeps them so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "genweave"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's command on the genweave package found under ``package_parent``."""
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT, env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold() -> None:
    result = lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_transport_that_imports_the_runtime_breaks_the_layers(tmp_path: Path) -> None:
    copy = tmp_path / "genweave"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.npz", "__pycache__"))
    framing = copy / "transport" / "framing.py"
    framing.write_text(framing.read_text() + "\nfrom genweave.runtime import host  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "genweave.transport is not allowed to import genweave.runtime" in result.stdout
    assert "genweave.transport.framing -> genweave.runtime.host" in result.stdout


def test_every_framework_module_is_kept_apart_from_the_reference_app() -> None:
    """A new top-level module must join the contract, or it could import the app unnoticed."""
    contract = next(c for c in CONTRACTS["contracts"] if c["id"] == "framework-apart-from-app")
    top_level = {
        f"genweave.{path.stem}" for path in PACKAGE.iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in {"__init__", "__main__", "app"}
    }
    assert top_level == set(contract["source_modules"])
