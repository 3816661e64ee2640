"""The run directory is private: created 0700, and refused when another user could use it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from genweave.deploy.attach import attach
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.rundir import UnsafeRundir, default_rundir, private_rundir, rundir_problem

ME = 1000
DIR = stat.S_IFDIR


def info(mode: int, uid: int = ME) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, uid, 0, 0, 0, 0))


def test_a_directory_of_the_user_closed_to_others_is_safe() -> None:
    assert rundir_problem("/run/x", info(DIR | 0o700), info(DIR | 0o700), ME) is None
    assert rundir_problem("/tmp/x", info(DIR | 0o700), info(DIR | 0o1777, uid=0), ME) is None


@pytest.mark.parametrize(("directory", "parent", "problem"), [
    (info(DIR | 0o700, uid=1001), info(DIR | 0o1777, uid=0), "belongs to uid 1001"),
    (info(DIR | 0o755), info(DIR | 0o1777, uid=0), "mode 0755: others may use it"),
    (info(stat.S_IFLNK | 0o777), info(DIR | 0o1777, uid=0), "not a directory"),
    (info(DIR | 0o700), info(DIR | 0o700, uid=1001), "parent belongs to uid 1001"),
    (info(DIR | 0o700), info(DIR | 0o777), "parent has mode 0777"),
])
def test_what_another_user_could_use_or_replace_is_refused(
        directory: os.stat_result, parent: os.stat_result, problem: str) -> None:
    assert problem in (rundir_problem("/tmp/x", directory, parent, ME) or "")


def test_the_default_is_under_the_runtime_directory_of_the_session(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GENWEAVE_RUNDIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_rundir("hello") == tmp_path / "genweave" / "hello"


def test_a_new_run_directory_is_created_private(tmp_path: Path) -> None:
    rundir = private_rundir(tmp_path / "genweave" / "hello")
    assert stat.S_IMODE(rundir.stat().st_mode) == 0o700
    assert stat.S_IMODE(rundir.parent.stat().st_mode) == 0o700


def test_an_existing_open_run_directory_is_refused_and_says_how_to_fix_it(tmp_path: Path) -> None:
    open_dir = tmp_path / "hello"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    with pytest.raises(UnsafeRundir, match=r"mode 0755.*chmod 700"):
        private_rundir(open_dir)


async def test_attach_refuses_a_socket_in_an_open_directory(tmp_path: Path) -> None:
    (tmp_path / CONTROL_SOCKET).touch()
    tmp_path.chmod(0o777)
    try:
        with pytest.raises(UnsafeRundir, match="others may use it"):
            await attach(tmp_path)
    finally:
        tmp_path.chmod(0o700)
