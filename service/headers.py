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


_NOSNIFF = ("X-Content-Type-Options", "nosniff")
_NO_REFERRER = ("Referrer-Policy", "no-referrer")
_PAGE_HEADERS = (("Content-Security-Policy", PAGE_POLICY), _NOSNIFF, _NO_REFERRER)
_API_HEADERS = (("Content-Security-Policy", _API_POLICY), _NOSNIFF, _NO_REFERRER)


def _secure(response: Response) -> Response:
    """Each header the response does not carry yet, in this order (what ``setdefault`` each
    would do, with one pass over the headers instead of a failed lookup each)."""
    headers = response.headers
    wanted = _PAGE_HEADERS if response.mimetype == "text/html" else _API_HEADERS
    present = {name.lower() for name, _ in headers}
    for name, value in wanted:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of ``app``."""
    app.after_request(_secure)
