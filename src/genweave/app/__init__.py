"""The reference application: retrieval-augmented chat with guardrails, text and
image generation, and document ingestion, built on genweave.

    client -> Gateway -> Assistant -> Moderator.check(input)
                                   -> Retriever.search -> Embedder
                                   -> Generator.chat (streamed)
                                   -> Illustrator.draw
                                   -> PostProcessor.cite
                                   -> Moderator.check(output)
              Ingestor: documents -> chunks -> Embedder -> vector store

Run it with ``python -m genweave.app`` (or ``scripts/run``); the topology and
every component's settings come from a ``genweave.toml`` or the presets.
"""

from genweave.app.gateway import Gateway
from genweave.application import App

__all__ = ["app"]

app = App("assistant", [Gateway])
