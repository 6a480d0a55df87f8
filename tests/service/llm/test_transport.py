"""The lean HTTP/1.1 transport under the real ``openai`` SDK, against raw loopback servers.

Each server here writes exact bytes — chunk framing split at awkward places, sized bodies,
closes at chosen moments, malformed framing, TLS — so what the transport does with what an
upstream may send is checked byte for byte, and against httpx's stock transport where both
should agree.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from service.llm.transport import BODY, LeanTransport

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """Accepts connections on a free loopback port; ``handle`` answers each request read."""

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handle = handle
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.closed_by_client = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write when it is made
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                return
        buffer = b""
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    self.closed_by_client.set()
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    if len(rest) < length:
                        break
                    buffer = rest[length:]
                    try:
                        self._handle(sock, head)
                    except OSError:  # the client went away mid-answer
                        self.closed_by_client.set()
                        return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Handler, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(handle, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _sdk(port: int, transport: httpx2.BaseTransport | None = None, scheme: str = "http",
         **options: Any) -> openai.OpenAI:
    kwargs = {} if transport is None else {"transport": transport}
    return openai.OpenAI(api_key="sk-test", base_url=f"{scheme}://127.0.0.1:{port}/v1",
                         max_retries=0, http_client=openai.DefaultHttpxClient(**kwargs),
                         **options)


def _stream_body(client: openai.OpenAI) -> bytes:
    response = client.post("/chat/completions", body={"model": "m", "messages": []},
                           cast_to=httpx2.Response, stream=True)
    try:
        return b"".join(response.iter_raw())
    finally:
        response.close()


EVENTS = [b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n',
          b'data: {"choices":[{"delta":{"content":"lo \xc3\xa9"}}]}\n\n',
          b"data: [DONE]\n\n"]


def _chunked_in_pieces(sock: socket.socket, head: bytes) -> None:
    """One chunk per event, every framing byte sent on its own (sizes, CRLFs, data halves)."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for event in EVENTS:
        framed = b"%x;ext=1\r\n%s\r\n" % (len(event), event)
        for cut in (1, 3, len(framed) // 2, len(framed) - 1):
            sock.sendall(framed[:cut])
            time.sleep(0.002)
            framed = framed[cut:]
        sock.sendall(framed)
    sock.sendall(b"0\r\nX-Trailer: 1\r\n\r\n")


def test_a_chunked_stream_split_anywhere_arrives_whole_and_the_same_as_httpx(raw_server) -> None:
    server = raw_server(_chunked_in_pieces)
    lean = _stream_body(_sdk(server.port, LeanTransport()))
    stock = _stream_body(_sdk(server.port))
    assert lean == stock == b"".join(EVENTS)


BURST = [b'data: {"choices":[{"delta":{"content":"t%d"}}]}\n\n' % i for i in range(40)]


def _chunked_in_bursts(sock: socket.socket, head: bytes) -> None:
    """Many chunks in each write, as a busy upstream's arrive: writes cut inside a size line,
    inside a chunk's data and between a chunk and its CRLF."""
    framed = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in BURST)
    body = framed + b"0\r\n\r\n"
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    one = len(BURST[0]) + 6  # a framed chunk of the first ten (one-digit numbers)
    for cut in (1, one * 7 + 20, one * 9 - 2, len(framed) - 200, len(body)):
        sock.sendall(body[:cut])
        time.sleep(0.005)
        body = body[cut:]


def test_chunks_arriving_many_at_once_come_out_whole_and_the_same_as_httpx(raw_server) -> None:
    server = raw_server(_chunked_in_bursts)
    lean = _stream_body(_sdk(server.port, LeanTransport()))
    stock = _stream_body(_sdk(server.port))
    assert lean == stock == b"".join(BURST)


def _polled_body(client: openai.OpenAI, timeout: float) -> tuple[bytes, int]:
    """The body read as the upstream client reads a stream: bounded reads of the ``BODY``
    extension, each ``timeout`` seconds at most; with how many ran out with nothing."""
    response = client.post("/chat/completions", body={"model": "m", "messages": []},
                           cast_to=httpx2.Response, stream=True)
    body, pieces, empty = response.extensions[BODY], [], 0
    try:
        while (piece := body.read(timeout)) != b"":
            if piece is None:
                empty += 1
            else:
                pieces.append(piece)
    finally:
        response.close()
    return b"".join(pieces), empty


@pytest.mark.parametrize("timeout", [0.0, 0.001])
@pytest.mark.parametrize("send", [_chunked_in_pieces, _chunked_in_bursts])
def test_bounded_reads_that_run_out_lose_nothing_and_keep_the_connection(
        raw_server, send: Handler, timeout: float) -> None:
    server = raw_server(send)
    client = _sdk(server.port, LeanTransport())
    for _ in range(2):
        body, empty = _polled_body(client, timeout)
        assert body == _stream_body(_sdk(server.port))  # what httpx reads whole
        assert empty > 0  # the framing's pauses were waited through, not read past
    assert server.connections == 1 + 2  # one kept by the lean transport, two for httpx


def _json(sock: socket.socket, status: bytes, body: bytes) -> None:
    sock.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))


def _sized_json(sock: socket.socket, head: bytes) -> None:
    _json(sock, b"200 OK",
          b'{"object":"list","data":[{"id":"m1","object":"model","created":0,"owned_by":"x"}]}')


def test_a_sized_json_body_reaches_the_sdk_and_the_connection_is_kept(raw_server) -> None:
    server = raw_server(_sized_json)
    client = _sdk(server.port, LeanTransport())
    for _ in range(3):
        assert [model.id for model in client.models.list()] == ["m1"]
    assert server.connections == 1


def _answer_then_close(sock: socket.socket, head: bytes) -> None:
    _sized_json(sock, head)
    sock.shutdown(socket.SHUT_RDWR)  # the server's keep-alive ended while the client idled


def test_a_connection_the_server_closed_while_idle_is_not_reused(raw_server) -> None:
    server = raw_server(_answer_then_close)
    client = _sdk(server.port, LeanTransport())
    for _ in range(3):
        assert [model.id for model in client.models.list()] == ["m1"]
        time.sleep(0.05)  # the server's FIN arrives before the next request
    assert server.connections == 3


def _once_per_connection() -> Handler:
    """Answers a connection's first request; closes at its second, unanswered, as a server
    whose keep-alive ends just as the next request arrives does (no FIN to see beforehand)."""
    answered: set[socket.socket] = set()

    def handle(sock: socket.socket, head: bytes) -> None:
        if sock in answered:
            sock.shutdown(socket.SHUT_RDWR)
            return
        answered.add(sock)
        _sized_json(sock, head)
    return handle


def test_a_kept_connection_closed_as_the_request_arrived_is_retried_on_a_new_one(
        raw_server) -> None:
    server = raw_server(_once_per_connection())
    client = _sdk(server.port, LeanTransport())
    for _ in range(3):
        assert [model.id for model in client.models.list()] == ["m1"]
    assert server.connections == 3


def _close_unanswered(sock: socket.socket, head: bytes) -> None:
    sock.shutdown(socket.SHUT_RDWR)


def test_a_new_connection_closed_unanswered_is_an_error_not_a_retry(raw_server) -> None:
    server = raw_server(_close_unanswered)
    with pytest.raises(openai.APIConnectionError):
        _sdk(server.port, LeanTransport()).models.list()
    assert server.connections == 1


def _endless_stream(sock: socket.socket, head: bytes) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(500):
        sock.sendall(b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0]))
        time.sleep(0.01)


def test_closing_a_stream_early_closes_the_connection_so_the_upstream_stops(raw_server) -> None:
    server = raw_server(_endless_stream)
    client = _sdk(server.port, LeanTransport())
    response = client.post("/chat/completions", body={}, cast_to=httpx2.Response, stream=True)
    first = next(response.iter_raw())
    response.close()
    assert first.startswith(b"data: ")
    assert server.closed_by_client.wait(2.0)


def _bad_chunk_size(size: bytes) -> Callable[[socket.socket, bytes], None]:
    def answer(sock: socket.socket, head: bytes) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + size + b"\r\nhello\r\n0\r\n\r\n")
    return answer


# Sizes Python's int(..., 16) would read (sign, prefix, underscore, spaces) but HTTP forbids.
@pytest.mark.parametrize("size", [b"zz", b"", b"0x5", b"+5", b"-0", b"0_5", b" 5", b"5 "])
def test_malformed_chunk_framing_is_a_protocol_error_not_data(raw_server, size: bytes) -> None:
    server = raw_server(_bad_chunk_size(size))
    with pytest.raises(httpx2.RemoteProtocolError, match="not hexadecimal"):
        _stream_body(_sdk(server.port, LeanTransport()))


def test_a_chunk_extension_is_skipped(raw_server) -> None:
    server = raw_server(_bad_chunk_size(b"5 ;name=value"))
    assert _stream_body(_sdk(server.port, LeanTransport())) == b"hello"


def _status_503(sock: socket.socket, head: bytes) -> None:
    _json(sock, b"503 Service Unavailable", b'{"error":{"message":"busy","type":"server_error"}}')


def test_an_error_status_becomes_the_sdks_status_error(raw_server) -> None:
    server = raw_server(_status_503)
    with pytest.raises(openai.InternalServerError) as caught:
        _sdk(server.port, LeanTransport()).models.list()
    assert caught.value.status_code == 503


def test_a_refused_connection_is_the_sdks_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(openai.APIConnectionError):
        _sdk(port, LeanTransport()).models.list()


def _silent(sock: socket.socket, head: bytes) -> None:
    time.sleep(1.0)


def test_an_upstream_that_never_answers_is_the_sdks_timeout(raw_server) -> None:
    server = raw_server(_silent)
    with pytest.raises(openai.APITimeoutError):
        _sdk(server.port, LeanTransport(), timeout=0.2).models.list()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _tls_server(raw_server: Callable[..., RawServer], cert: tuple[Path, Path]) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    return raw_server(_chunked_in_pieces, tls=context)


def test_https_upstreams_are_verified_and_streamed(raw_server, certificate) -> None:
    server = _tls_server(raw_server, certificate)
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    client = _sdk(server.port, LeanTransport(ssl_context=trusting), scheme="https")
    assert _stream_body(client) == b"".join(EVENTS)


def test_bounded_reads_over_https_lose_nothing(raw_server, certificate) -> None:
    server = _tls_server(raw_server, certificate)
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    client = _sdk(server.port, LeanTransport(ssl_context=trusting), scheme="https")
    body, empty = _polled_body(client, 0.0)
    assert (body, empty > 0) == (b"".join(EVENTS), True)


def test_an_https_upstream_with_an_untrusted_certificate_is_refused(raw_server,
                                                                    certificate) -> None:
    server = _tls_server(raw_server, certificate)
    with pytest.raises(openai.APIConnectionError):
        _sdk(server.port, LeanTransport(), scheme="https").models.list()
