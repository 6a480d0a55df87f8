"""docs/api.md lists every route the service answers and every error code it refuses with — and
nothing it does not have — so the API page cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from service import errors
from service.app import create_app
from service.settings import Settings

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_ROUTE = re.compile(r"`((?:GET|POST|PUT|PATCH|DELETE)(?:\\?\|(?:GET|POST|PUT|PATCH|DELETE))*) "
                    r"(/[^`\s]*)`")
_PATH_ONLY = re.compile(r"`(/[^`\s]*)`")


def _documented_routes() -> set[tuple[str, str]]:
    """(method, path) pairs of the route table; a bare path in a row (``(and `/ui/…`)``) takes
    the row's methods, and ``…`` stands for any file below it."""
    table = API_PAGE.read_text().split("## Routes", 1)[1].split("\n\n", 2)[1]
    routes: set[tuple[str, str]] = set()
    for row in table.splitlines()[2:]:
        first_cell = row.split(" | ")[0]
        methods: set[str] = set()
        for listed, path in _ROUTE.findall(first_cell):
            methods = set(listed.replace("\\", "").split("|"))
            routes |= {(m, path) for m in methods}
        routes |= {(m, path) for path in _PATH_ONLY.findall(first_cell) for m in methods}
    return routes


def _served_routes() -> set[tuple[str, str]]:
    app = create_app(Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}))
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<path:\w+>", "…", rule.rule)
        served |= {(m, path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return served


def test_the_route_table_is_every_route_the_service_answers() -> None:
    documented, served = _documented_routes(), _served_routes()
    assert served - documented == set(), "routes the service has but docs/api.md does not list"
    assert documented - served == set(), "routes docs/api.md lists but the service does not have"


def test_every_refusal_code_is_documented_with_its_status() -> None:
    text = " ".join(API_PAGE.read_text().split())
    refusals = {(cls.status, cls.code) for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.ApiError)
                and cls is not errors.ApiError}
    refusals |= {(status, code) for status, code in errors._HTTP_CODES.items() if status != 400}
    missing = sorted(f"{status} `{code}`" for status, code in refusals
                     if f"{status} `{code}`" not in text)
    assert not missing, f"docs/api.md does not list {missing}"
