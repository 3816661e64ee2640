"""The worker process: started by a supervisor, it refuses to outlive one.

Its whole life with a supervisor (ready, draining, graceful exit, dying with
its supervisor) is exercised in test_local.py; here, what it does alone.
"""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec
import pytest
from sample_app import app

from genweave.deploy.control import WORKER_ENV, WorkerSpec
from genweave.deploy.supervisor import WORKER_MODULE
from genweave.topology import preset

pytestmark = pytest.mark.process


def test_a_worker_whose_supervisor_is_gone_exits_at_once() -> None:
    not_my_parent = os.getpid() + 1_000_000
    spec = WorkerSpec("sample_app:app", preset("monolith", app), "main", 0, "unix:/nowhere",
                      "unix:/nowhere", not_my_parent, 1.0)
    env = {**os.environ, WORKER_ENV: msgspec.json.encode(spec).decode(),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", WORKER_MODULE], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "genweave worker: supervisor is gone"
