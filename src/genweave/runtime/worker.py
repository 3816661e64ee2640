"""Moved: the worker entry point is ``genweave.deploy.worker``, the loop choice ``genweave._aio``.

Kept only so that ``from genweave.runtime.worker import loop_factory`` (bench/_common.py)
works until its import is repointed.
"""

from __future__ import annotations

from genweave._aio import loop_factory

__all__ = ["loop_factory"]
