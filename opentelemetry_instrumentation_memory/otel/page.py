"""The opt-in page served beside ``/metrics`` (``/memory``): the heap over time against the limit and
the active leaks, for a look without Grafana.

One self-contained file (``page.html``: inline CSS, script and SVG, no external asset, so it works
where the endpoint is reachable and nothing else is) that reads ``/memory.json`` beside it every few
seconds: it shows what the summary carries (otel/summary.py), and so nothing the metric labels do not.
Its content security policy allows exactly its own inline style and script, by hash, and requests to
its own origin only; every value is set as text, never as markup.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources

from .server import Page

__all__ = ["PAGE_PATH", "page"]

PAGE_PATH = "/memory"


def _inline_hash(html: str, tag: str) -> str:
    """The CSP source of the one inline ``<tag>`` element's content."""
    start = html.index(f"<{tag}>") + len(tag) + 2
    content = html[start : html.index(f"</{tag}>", start)]
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode() + "'"


def page() -> Page:
    """The page, read from the package once per endpoint."""
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; script-src {_inline_hash(html, 'script')}; "
        f"style-src {_inline_hash(html, 'style')}; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    body = html.encode("utf-8")
    return Page(
        "text/html; charset=utf-8",
        lambda: body,
        (("Content-Security-Policy", policy), ("Referrer-Policy", "no-referrer")),
    )
