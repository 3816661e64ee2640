"""Documents in each format, shared by the extraction and chunking tests."""

from __future__ import annotations

from typing import Final

__all__ = ["HTML", "MARKDOWN"]

MARKDOWN: Final = """\
# Guide

Intro paragraph of the guide, long enough to stand on its own as a chunk.

## Install

Run pip to install the package. It needs Python 3.11 or newer to work.

```bash
# this comment is code, not a heading
pip install genweave
```

### From source

Clone the repository, then install it in editable mode with the dev extra.

Usage
-----

Call the command line tool with the app and a topology preset to run.
"""

HTML: Final = """<!doctype html><html><head><title>Ignored</title>
<style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body><h1>Manual</h1><p>Welcome to the <b>manual</b> &amp; its   many pages.</p>
<h2>Setup</h2><p>Install&nbsp;it first.</p><ul><li>one</li><li>two</li></ul>
<pre>code   keeps   spaces</pre><noscript>enable js</noscript>
<h3>Details</h3><p>Fine print goes here.</p></body></html>"""
