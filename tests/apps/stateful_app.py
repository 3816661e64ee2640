"""An app whose components keep state in each of the ways the framework recognises.

No component is imported from ``genweave.app``: the rule that finds state reads
settings only, so any app's components are judged alike.

- ``Catalog`` and ``Indexer`` keep one store, under a shared ``data_dir`` (as the
  reference app's Retriever and Ingestor do);
- ``Cache`` keeps state (a ``database_url`` setting) but names no ``data_dir``;
- ``Uploads`` has a ``data_dir`` and no ``database_url``: files, not a database the
  framework knows of, so not stateful to it;
- ``Front`` has no settings at all.
"""

from __future__ import annotations

import msgspec

from genweave import App, Ref, component


class StoreSettings(msgspec.Struct, frozen=True):
    data_dir: str = "state"
    database_url: str = ""


class CacheSettings(msgspec.Struct, frozen=True):
    database_url: str = ""


class UploadSettings(msgspec.Struct, frozen=True):
    data_dir: str = "uploads"


@component(config=StoreSettings)
class Catalog:
    config: StoreSettings

    async def find(self, text: str) -> list[str]:
        return [text]


@component(config=StoreSettings)
class Indexer:
    config: StoreSettings
    catalog: Ref[Catalog]

    async def add(self, text: str) -> int:
        return len(await self.catalog.find(text))


@component(config=CacheSettings)
class Cache:
    config: CacheSettings

    async def get(self, key: str) -> str:
        return key


@component(config=UploadSettings)
class Uploads:
    config: UploadSettings

    async def size(self, name: str) -> int:
        return len(name)


@component
class Front:
    catalog: Ref[Catalog]
    indexer: Ref[Indexer]
    cache: Ref[Cache]
    uploads: Ref[Uploads]

    async def ask(self, text: str) -> list[str]:
        await self.cache.get(text)
        return await self.catalog.find(text)


app = App("stateful", [Front, Catalog, Indexer, Cache, Uploads])
