"""A real OpenAI-compatible server for tests (`transformers serve` on a tiny checkpoint) and a
fault-injecting proxy in front of it. Both listen on 127.0.0.1 on a free port and stop by
themselves: the server runs under `timeout`, and both are stopped by the fixtures using them.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVER_LIFETIME_S = 1800  # a server left behind by a killed test run stops by itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`transformers serve CHECKPOINT` on 127.0.0.1:port, one torch thread."""

    def __init__(self, checkpoint: Path, port: int | None = None) -> None:
        self.checkpoint = checkpoint
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_s: float = 120.0) -> "Server":
        cli = Path(sys.executable).with_name("transformers")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        # Its log goes to a file: a pipe nobody reads fills up (a line per request) and then
        # blocks the server.
        log = self.checkpoint.parent / f"serve-{self.port}.log"
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                ["timeout", str(SERVER_LIFETIME_S), str(cli), "serve", str(self.checkpoint),
                 "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"],
                env=env, stdout=sink, stderr=sink, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {log.read_text()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer on {self.url} in {wait_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None


class FaultProxy:
    """Forwards HTTP to `upstream`, adding `latency_s` to each request and, for chat
    completions, the faults planned by request number: {n: "429" | "500" | "hang" | "drop"}.
    `on_request(n)` runs before request n is forwarded (e.g. to restart the server). When the
    upstream cannot be reached the proxy answers 502, as a gateway does. With `replay`, a
    request body seen before gets the answer stored for it without reaching the upstream (a
    benchmark then measures the client alone)."""

    def __init__(self, upstream: str, faults: dict[int, str] | None = None,
                 latency_s: float = 0.0, hang_s: float = 5.0, replay: bool = False) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.faults = dict(faults or {})
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.on_request = None
        self.replay = replay  # answer a request seen before from its stored answer, upstream idle
        self.answers: dict[bytes, tuple[int, str, bytes]] = {}
        self.count = 0
        self.injected: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for an ACK
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy._forward(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        fault = None
        if handler.path.endswith("/chat/completions"):
            with self.lock:
                self.count += 1
                n = self.count
                fault = self.faults.pop(n, None)
                if fault:
                    self.injected.append((n, fault))
            if self.on_request is not None:
                self.on_request(n)
        if self.latency_s:
            time.sleep(self.latency_s)
        if fault == "429":
            return _reply(handler, 429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
        if fault == "500":
            return _reply(handler, 500, {"error": {"message": "injected server error"}})
        if fault == "hang":
            time.sleep(self.hang_s)
            handler.close_connection = True
            return None
        if fault == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        stored = self.answers.get(body) if self.replay and body else None
        if stored is not None:
            return _send(handler, *stored)
        try:
            conn = http.client.HTTPConnection(self.upstream, timeout=300)
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host",)}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status, content_type = response.status, response.getheader("Content-Type", "")
            conn.close()
        except OSError as e:
            return _reply(handler, 502, {"error": {"message": f"upstream unreachable: {e}"}})
        if self.replay and body and status == 200:
            self.answers[body] = (status, content_type, data)
        _send(handler, status, content_type, data)


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type or "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict,
           headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                 **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)
