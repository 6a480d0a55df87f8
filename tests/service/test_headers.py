"""The security headers, in process: added after every view, in a fixed order, never replacing
one the view set itself (in whatever case it spelled the name)."""

from __future__ import annotations

from flask import Flask, Response

from service import headers

_API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _app() -> Flask:
    app = Flask("headers-test")
    headers.init_app(app)

    @app.get("/json")
    def json_view() -> Response:
        return Response("{}", mimetype="application/json")

    @app.get("/html")
    def html_view() -> Response:
        return Response("<p>hi</p>", mimetype="text/html")

    @app.get("/own")
    def own_view() -> Response:
        response = Response("{}", mimetype="application/json")
        response.headers["content-security-policy"] = "default-src 'self'"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    return app


def test_api_responses_get_the_api_policy_after_their_own_headers_in_order() -> None:
    response = _app().test_client().get("/json")
    assert list(response.headers.items()) == [
        ("Content-Type", "application/json"), ("Content-Length", "2"),
        ("Content-Security-Policy", _API_POLICY), ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]


def test_html_gets_the_page_policy() -> None:
    response = _app().test_client().get("/html")
    assert response.headers["Content-Security-Policy"] == headers.PAGE_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_header_the_view_set_is_kept_whatever_its_case() -> None:
    response = _app().test_client().get("/own")
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
