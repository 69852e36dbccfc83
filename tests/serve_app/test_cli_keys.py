"""`switchyard keys revoke` says what is wrong rather than failing with a traceback (no Ray: a
loopback server stands in for Switchyard)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serve_app.app.builder import ADMIN_KEY_ENV
from serve_app.cli import main


class _Redirects(BaseHTTPRequestHandler):
    """What FastAPI answers `DELETE /v1/admin/keys/` (no id): a redirect to the list."""

    def do_DELETE(self) -> None:
        self.send_response(307)
        self.send_header("location", "/v1/admin/keys")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_revoke_without_an_id_or_with_an_odd_answer_says_so(
    redirecting_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_KEY_ENV, "an-admin-key-of-thirty-characters")
    assert main(["keys", "revoke", "--url", redirecting_url, ""]) == 1
    assert "name the key by its id" in capsys.readouterr().err
    assert main(["keys", "revoke", "--url", redirecting_url, "key_x"]) == 1
    assert "HTTP 307" in capsys.readouterr().err
