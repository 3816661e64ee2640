"""``genweave chat``: stream an answer from a running app's gateway into the terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

import msgspec

__all__ = ["chat"]

_ERROR_BODY_SHOWN: Final = 200
"""Characters of a body that is not the gateway's error shown as it is (a proxy's page)."""


async def chat(question: str, *, url: str, key: str | None = None,
               model: str = "genweave-assistant", retrieval: bool = True,
               max_tokens: int = 200, out: Callable[[str], Any] = sys.stdout.write) -> int:
    """Send ``question``, print the answer as it streams, then its sources."""
    import httpx

    body = {"model": model, "stream": True, "max_tokens": max_tokens, "retrieval": retrieval,
            "messages": [{"role": "user", "content": question}]}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    citations: list[dict[str, Any]] = []
    degraded: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=None) as client, \
                client.stream("POST", "/v1/chat/completions", json=body,
                              headers=headers) as response:
            if response.status_code != 200:
                out(f"error {response.status_code}: "
                    f"{_error_message(await response.aread())}\n")
                return 1
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = msgspec.json.decode(line[len("data: "):])
                if "error" in chunk:
                    out(f"\nerror: {chunk['error']['message']}\n")
                    return 1
                for choice in chunk.get("choices", []):
                    out(choice.get("delta", {}).get("content") or "")
                extras = chunk.get("genweave") or {}
                citations.extend(extras.get("citations", []))
                degraded.extend(extras.get("degraded", []))
    except httpx.ConnectError:
        raise ConnectionError(f"no gateway at {url}; start the app with 'genweave run' "
                              "or pass --url") from None
    out("\n")
    if citations:
        out("\nSources:\n")
        for c in citations:
            out(f"  [{c['index']}] {c['title']} ({c['document']}, chunk {c['chunk']}, "
                f"score {c['score']:.2f})\n")
    if degraded:
        out(f"\n(degraded: answered without {', '.join(sorted(set(degraded)))})\n")
    return 0


def _error_message(body: bytes) -> str:
    """The gateway's error message, or the start of whatever else answered (a proxy, another
    app), so the user sees what went wrong instead of a decoding error."""
    try:
        message = msgspec.json.decode(body)["error"]["message"]
    except (msgspec.DecodeError, KeyError, TypeError):
        text = body.decode(errors="replace").strip()
        return text[:_ERROR_BODY_SHOWN] or "(no body)"
    return str(message)
