"""The web console: a page showing a running app's topology, replicas and methods.

The page and its script and style are package data beside this module, read
with :mod:`importlib.resources`, so an installed wheel serves them as an
editable checkout does.  The page reads the live view of
:mod:`genweave.gateway.ops` (and ``/readyz`` until an API key is entered), so
an app serves the console with those endpoints::

    Operations(self.runtime).add_to(api)
    Console().add_to(api)

An app may add its own panels (a chat, a form...): HTML fragments for the
page's main and side columns, with their scripts and styles, all files of one
package of its own.  They are served under ``/console/app/``; their scripts are
ES modules that may import the console's helpers from ``/console/console.js``::

    Console(ConsolePanels("my_app.console", main="main.html", scripts=("panels.js",)))
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from genweave.gateway.api import Api
from genweave.gateway.errors import APIError, error_response

__all__ = ["Console", "ConsolePanels"]

PAGE: Final = "index.html"
ASSETS: Final = ("console.js", "console.css")
FILE_PATH: Final = "/console/{name}"
PANEL_PATH: Final = "/console/app/{name}"
MAIN_COLUMN: Final = "<!--genweave:main-column-->"
SIDE_PANELS: Final = "<!--genweave:side-panels-->"
HEAD: Final = "<!--genweave:head-->"


@dataclass(frozen=True)
class ConsolePanels:
    """An app's own panels: files of the package ``package``, named by role.

    ``main`` and ``side`` are HTML fragments placed in the page's main column
    and below the topology view; ``scripts`` (ES modules) and ``styles`` are
    linked from the page's head.
    """

    package: str
    main: str = ""
    side: str = ""
    scripts: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()

    def names(self) -> list[str]:
        """Every file the panels are made of."""
        return [n for n in (self.main, self.side, *self.scripts, *self.styles) if n]


class Console:
    """Serves the console page at ``/`` and its files under ``/console/``."""

    def __init__(self, panels: ConsolePanels | None = None) -> None:
        # Read once: a few tens of kilobytes, and a missing file fails at start, not per request.
        framework = files(__name__)
        self._files = _read(framework, ASSETS)
        self._panel_files: dict[str, _Asset] = {}
        page = framework.joinpath(PAGE).read_text(encoding="utf-8")
        if panels is None:
            self._page = _with_panels(page, ConsolePanels(""), {}).encode()
            return
        self._panel_files = _read(files(panels.package), panels.names())
        fragments = {n: self._panel_files[n].content.decode()
                     for n in (panels.main, panels.side) if n}
        self._page = _with_panels(page, panels, fragments).encode()

    def add_to(self, api: Api) -> None:
        """Serve the page and its files from ``api``, outside the keyed API."""
        api.mount(Route("/", self._serve_page, methods=["GET"]))
        api.mount(Route(FILE_PATH, self._serve_file, methods=["GET"]))
        api.mount(Route(PANEL_PATH, self._serve_panel_file, methods=["GET"]))

    async def _serve_page(self, request: Request) -> Response:
        return Response(self._page, media_type="text/html; charset=utf-8")

    async def _serve_file(self, request: Request) -> Response:
        return _serve(self._files, request.path_params["name"])

    async def _serve_panel_file(self, request: Request) -> Response:
        return _serve(self._panel_files, request.path_params["name"])


@dataclass(frozen=True)
class _Asset:
    content: bytes
    media_type: str


def _read(folder: Traversable, names: Iterable[str]) -> dict[str, _Asset]:
    return {name: _Asset(folder.joinpath(name).read_bytes(),
                         mimetypes.guess_type(name)[0] or "application/octet-stream")
            for name in names}


def _serve(assets: dict[str, _Asset], name: str) -> Response:
    """Only the files named up front are served: no path from a request reaches the disk."""
    asset = assets.get(name)
    if asset is None:
        return error_response(APIError(HTTPStatus.NOT_FOUND, f"no console file {name}",
                                       code="not_found"))
    return Response(asset.content, media_type=asset.media_type,
                    headers={"Cache-Control": "no-cache"})


def _with_panels(page: str, panels: ConsolePanels, fragments: dict[str, str]) -> str:
    """The page with the app's fragments in their columns and its files in the head."""
    head = [f'<link rel="stylesheet" href="{_panel_url(n)}">' for n in panels.styles]
    head += [f'<script type="module" src="{_panel_url(n)}"></script>' for n in panels.scripts]
    main = (f'<div class="column main-column">\n{fragments[panels.main]}</div>'
            if panels.main else "")
    return (page.replace(HEAD, "\n  ".join(head))
            .replace(MAIN_COLUMN, main)
            .replace(SIDE_PANELS, fragments.get(panels.side, "")))


def _panel_url(name: str) -> str:
    return escape(PANEL_PATH.format(name=name), quote=True)
