"""Issue 21, item 4: credentials go only where they are configured to go.

With ``CHAT_CACHE_EMBEDDINGS=openai`` and ``CHAT_EMBEDDINGS_BASE_URL`` pointing at another
server, the upstream's ``OPENAI_API_KEY`` went to that server with every embeddings call (7 of 7).
A recording embeddings server shows what each call carries now.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtests.processes import LOOPBACK, ManagedProcess
from otel.testing import wait_until
from service.cache.embeddings.remote import embeddings_api_key
from service.settings import Settings
from tests.support import stream_chat

pytestmark = pytest.mark.integration

UPSTREAM_KEY = "sk-RECOGNISABLE-upstream-key-5151"
EMBEDDINGS_KEY = "ek-RECOGNISABLE-embeddings-key-6262"


class _RecordingEmbeddings(BaseHTTPRequestHandler):
    """``/v1/embeddings`` that answers fixed vectors and records every Authorization header."""

    seen: list[str | None] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        type(self).seen.append(self.headers.get("Authorization"))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [1.0, float(len(text)), 0.5]}
                for i, text in enumerate(inputs)]
        raw = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str | None]]]:
    _RecordingEmbeddings.seen = []
    server = ThreadingHTTPServer((LOOPBACK, 0), _RecordingEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{LOOPBACK}:{server.server_port}/v1", _RecordingEmbeddings.seen
    server.shutdown()


def _embed_some(service: ManagedProcess, seen: list[str | None]) -> None:
    for question in ("How do I export my data?", "Where is my data stored?",
                     "How do I download my data?"):
        stream_chat(service.url, {"message": question})
    assert wait_until(lambda: len(seen) >= 2, 5)


@pytest.mark.parametrize("own_key", [None, EMBEDDINGS_KEY], ids=["no-key", "own-key"])
def test_another_embeddings_origin_gets_only_its_own_key(
    start_chat_service, simulator: ManagedProcess,
    recorder: tuple[str, list[str | None]], own_key: str | None,
) -> None:
    url, seen = recorder
    env = {"OPENAI_API_KEY": UPSTREAM_KEY, "CHAT_CACHE_EMBEDDINGS": "openai",
           "CHAT_EMBEDDINGS_BASE_URL": url}
    if own_key:
        env["CHAT_EMBEDDINGS_API_KEY"] = own_key
    service = start_chat_service(simulator.url, **env)
    _embed_some(service, seen)
    assert all(UPSTREAM_KEY not in (header or "") for header in seen), seen
    expected = f"Bearer {own_key}" if own_key else None
    assert set(seen) == {expected}


@pytest.mark.parametrize(("base_url", "embeddings_url", "own", "expected"), [
    ("http://llm.internal:8000/v1", None, None, "upstream"),  # the upstream's own endpoint
    ("http://llm.internal:8000/v1", "http://llm.internal:8000/other/v1", None, "upstream"),
    ("http://llm.internal:8000/v1", "http://llm.internal:8001/v1", None, None),  # other port
    ("http://llm.internal:8000/v1", "https://llm.internal:8000/v1", None, None),  # other scheme
    (None, "https://api.openai.com/v1", None, "upstream"),  # OpenAI's default origin
    (None, "http://tei.internal/v1", None, None),
    ("http://llm.internal:8000/v1", "http://tei.internal/v1", "own", "own"),
])
def test_the_upstream_key_is_sent_only_to_the_upstreams_origin(
    base_url: str | None, embeddings_url: str | None, own: str | None, expected: str | None,
) -> None:
    settings = Settings(openai_base_url=base_url, openai_api_key="upstream",
                        embeddings_base_url=embeddings_url, embeddings_api_key=own)
    assert embeddings_api_key(settings) == expected
