"""A real HTTP receiver on loopback for webhook tests and the benchmark.

A threading ``http.server`` on 127.0.0.1 that records every request (headers, raw body,
when it arrived). ``fail_first`` answers the first N requests with 503; ``status`` is the
answer after that; ``delay`` sleeps before answering.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time()


@dataclass
class Receiver:
    fail_first: int = 0
    status: int = 200
    delay: float = 0.0
    answer: bytes = b'{"ok":true}'
    requests: list[Received] = field(default_factory=list)  # answered 2xx
    every_request: list[Received] = field(default_factory=list)  # answered anything
    server: ThreadingHTTPServer | None = None
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                got = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                with receiver.lock:
                    receiver.seen += 1
                    failing = receiver.seen <= receiver.fail_first
                    receiver.every_request.append(got)
                    if not failing and receiver.status < 300:
                        receiver.requests.append(got)
                if receiver.delay:
                    time.sleep(receiver.delay)
                code = 503 if failing else receiver.status
                answer = b"down for now" if failing else receiver.answer
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client killed mid-request (the fault tests) is expected

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("webhook-id", "") for r in self.requests]
