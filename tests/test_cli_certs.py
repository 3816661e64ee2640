"""``genweave certs``: an app's CA, then its groups' and the control identity's certificates."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from genweave.cli import main


def uris(path: Path) -> list[str]:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return names.get_values_for_type(x509.UniformResourceIdentifier)


def test_init_then_issue_a_group_and_the_control_identity(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "init", "examples.hello:app", "--dir", str(tmp_path)]) == 0
    assert "genweave certs issue examples.hello:app GROUP" in capsys.readouterr().out
    assert main(["certs", "issue", "hello", "frontend", "--dir", str(tmp_path)]) == 0
    assert main(["certs", "issue", "hello", "--control", "--dir", str(tmp_path)]) == 0
    assert uris(tmp_path / "frontend.pem") == ["spiffe://genweave/hello/frontend"]
    assert uris(tmp_path / "@control.pem") == ["spiffe://genweave/hello/@control"]


def test_issue_needs_a_group_or_control_and_a_ca(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "issue", "hello", "--dir", str(tmp_path)]) == 1
    assert "name a GROUP, or --control" in capsys.readouterr().err
    assert main(["certs", "issue", "hello", "main", "--dir", str(tmp_path)]) == 1
    assert "genweave certs init hello" in capsys.readouterr().err
