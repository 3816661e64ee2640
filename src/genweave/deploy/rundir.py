"""The run directory: where a deployment's Unix sockets live, private to the user who runs it.

Anyone who can reach a socket there can call the deployment, and anyone who can
create the directory first can put their own sockets where callers look.  So a
run directory is created with mode 0700, and an existing one is used only when
it is a real directory owned by this user with no access for anyone else, in a
parent that no other user can change (owned by this user or root, and either
not writable by others or sticky like ``/tmp``).  The default lives under
``$XDG_RUNTIME_DIR`` (per user, set up by the login session) when it is set.

The rule (``rundir_problem``) is pure and tested alone; ``private_rundir``
(the deployer) and ``check_rundir`` (whoever attaches) act on it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from genweave.errors import GenweaveError

__all__ = [
    "TLS_DIRECTORY",
    "TLS_DIR_ENV",
    "UnsafeRundir",
    "check_rundir",
    "default_rundir",
    "private_rundir",
    "rundir_problem",
]

RUNDIR_ENV: Final = "GENWEAVE_RUNDIR"
TLS_DIRECTORY: Final = "tls"
"""Where in a run directory the local deployer keeps the certificates it makes (TCP)."""
TLS_DIR_ENV: Final = "GENWEAVE_TLS_DIR"
"""Where a worker finds the CA and its group's certificate (``ca.pem``, ``GROUP.pem``...)."""
_ROOT: Final = 0


class UnsafeRundir(GenweaveError):
    """A run directory that another user could read, change or has created first."""


def default_rundir(app_name: str) -> Path:
    """Where ``genweave run`` keeps an app's sockets, so other commands can find it.

    Example::

        default_rundir("hello")   # /run/user/1000/genweave/hello, or /tmp/genweave-1000/hello
    """
    if os.environ.get(RUNDIR_ENV):
        return Path(os.environ[RUNDIR_ENV]) / app_name
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "genweave" if runtime else Path(f"/tmp/genweave-{os.getuid()}")
    return base / app_name


def rundir_problem(path: str, directory: os.stat_result, parent: os.stat_result,
                   uid: int) -> str | None:
    """What makes ``path`` unsafe as a run directory for ``uid``; ``None`` when it is safe.

    ``directory`` and ``parent`` are ``os.lstat`` of it and of its parent.
    """
    if not stat.S_ISDIR(directory.st_mode):
        return f"{path} is not a directory (a link or a file is refused)"
    if directory.st_uid != uid:
        return f"{path} belongs to uid {directory.st_uid}, not to uid {uid} who runs genweave"
    if directory.st_mode & 0o077:
        return (f"{path} has mode {stat.S_IMODE(directory.st_mode):04o}: others may use it; "
                f"run 'chmod 700 {path}'")
    if parent.st_uid not in (uid, _ROOT):
        return f"its parent belongs to uid {parent.st_uid}, who could replace {path}"
    if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX:
        return (f"its parent has mode {stat.S_IMODE(parent.st_mode):04o}: others may replace "
                f"{path}")
    return None


def private_rundir(path: Path) -> Path:
    """Create ``path`` (mode 0700) or check an existing one; ``UnsafeRundir`` when unsafe."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    check_rundir(path)
    return path


def check_rundir(path: Path) -> None:
    """Refuse (``UnsafeRundir``) a run directory that ``rundir_problem`` finds unsafe."""
    problem = rundir_problem(str(path), os.lstat(path), os.lstat(path.parent), os.getuid())
    if problem is not None:
        raise UnsafeRundir(f"refusing run directory {path}: {problem}. Choose another with "
                           f"${RUNDIR_ENV} or --rundir")
