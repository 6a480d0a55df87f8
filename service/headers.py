"""The security headers every response carries, whichever route or file it comes from.

They are set once, after each request, so no route or static file can be served without them
(``/ui/index.html`` once was): ``nosniff`` everywhere, so a browser never runs a JSON body or an
answer as script; the chat page's policy (its own files only, never framed) on HTML; and on
everything else a policy that allows nothing at all, so an API body opened in a tab cannot load,
run or be framed.
"""

from __future__ import annotations

from flask import Flask, Response

__all__ = ["PAGE_POLICY", "init_app"]

# The page's own files only: no inline script or style, so injected markup could not run.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _secure(response: Response) -> Response:
    html = response.mimetype == "text/html"
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY if html else _API_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of ``app``."""
    app.after_request(_secure)
