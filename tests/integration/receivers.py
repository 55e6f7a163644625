"""Local stand-ins for alert destinations, on 127.0.0.1 with ephemeral ports.

* :class:`HttpReceiver`: a threaded HTTP server that records every request and answers from a
  per-path script (the last reply repeats) — Slack, Teams and generic webhooks.
* :class:`SmtpReceiver`: a minimal SMTP server written on socketserver (``smtpd`` is gone from
  the stdlib): EHLO/HELO, optional STARTTLS or implicit TLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA
  (with dot-unstuffing), RSET, NOOP, QUIT; scripted failure codes for RCPT and DATA.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when the request arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Reply | Callable[[Received], Reply]


class HttpReceiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Responder]] = {}
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                req = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(length) if length else b"", time.monotonic())
                reply = receiver._record(req)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="http-receiver", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Responder) -> None:
        with self._cond:
            self._scripts[path] = list(replies)

    def _record(self, req: Received) -> Reply:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()
            script = self._scripts.get(req.path)
            if not script:
                return Reply(404, b"no_service")
            responder = script.pop(0) if len(script) > 1 else script[0]
        return responder(req) if callable(responder) else responder

    def hits(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [r for r in self.requests if r.path == path]
                left = deadline - time.monotonic()
                if len(hits) >= count or left <= 0:
                    return hits
                self._cond.wait(left)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def signature_checker(secret: bytes, *, tolerance: float = 300.0) -> Callable[[Received], Reply]:
    """A responder that verifies the documented scheme independently of the code under test:
    ``sha256=hex(HMAC-SHA256(secret, timestamp + "." + raw body))`` — 401 when it does not match."""

    def check(req: Received) -> Reply:
        ts = req.headers.get("x-brandpulse-timestamp", "")
        sig = req.headers.get("x-brandpulse-signature", "")
        expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        if not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
            return Reply(401, b"stale timestamp")
        if not hmac.compare_digest(expected, sig):
            return Reply(401, b"bad signature")
        return Reply(200, b"ok")

    return check


def closed_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- SMTP ----------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    tls: bool
    auth_user: str | None

    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class SmtpReceiver:
    """``tls``: None (plain), "starttls" (advertised and supported), or "implicit" (TLS from byte 0).
    ``advertise_starttls`` can be forced on without a certificate: the server then answers 454."""

    def __init__(self, *, tls: str | None = None, context: ssl.SSLContext | None = None,
                 auth: tuple[str, str] | None = None, advertise_starttls: bool | None = None) -> None:
        self.mails: list[Mail] = []
        self.commands: list[str] = []
        self.rcpt_reply: str | None = None  # e.g. "451 4.3.0 try later" or "550 5.1.1 no such user"
        self.data_reply: str | None = None
        self.tls = tls
        self.context = context
        self.auth = auth
        self.advertise_starttls = tls == "starttls" if advertise_starttls is None else advertise_starttls
        self._cond = threading.Condition()
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def setup(self) -> None:
                if receiver.tls == "implicit":
                    assert receiver.context is not None
                    self.request = receiver.context.wrap_socket(self.request, server_side=True)
                    self.connection = self.request
                super().setup()
                self.secure = receiver.tls == "implicit"
                self.user: str | None = None

            def send(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.send("220 receiver ESMTP ready")
                mail_from: str | None = None
                rcpts: list[str] = []
                while True:
                    raw = self.rfile.readline(4096)
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    with receiver._cond:
                        receiver.commands.append("AUTH" if verb == "AUTH" else line)
                    arg = line[len(verb):].strip()
                    if verb == "EHLO":
                        ext = ["8BITMIME", "SMTPUTF8"]
                        if receiver.advertise_starttls and not self.secure:
                            ext.append("STARTTLS")
                        if receiver.auth:
                            ext.append("AUTH PLAIN LOGIN")
                        lines = ["receiver", *ext]
                        for i, ln in enumerate(lines):
                            self.send(f"250{'-' if i < len(lines) - 1 else ' '}{ln}")
                    elif verb == "HELO":
                        self.send("250 receiver")
                    elif verb == "STARTTLS":
                        if receiver.tls != "starttls" or receiver.context is None:
                            self.send("454 4.7.0 TLS not available")
                            continue
                        self.send("220 2.0.0 go ahead")
                        self.request = receiver.context.wrap_socket(self.request, server_side=True)
                        self.connection = self.request
                        self.rfile = self.request.makefile("rb")
                        self.wfile = self.request.makefile("wb")
                        self.secure = True
                        mail_from, rcpts = None, []
                    elif verb == "AUTH":
                        self._auth(arg)
                    elif verb == "MAIL":
                        if receiver.auth and self.user is None:
                            self.send("530 5.7.0 authentication required")
                            continue
                        mail_from, rcpts = _addr(arg), []
                        self.send("250 2.1.0 ok")
                    elif verb == "RCPT":
                        if receiver.rcpt_reply:
                            self.send(receiver.rcpt_reply)
                            continue
                        rcpts.append(_addr(arg))
                        self.send("250 2.1.5 ok")
                    elif verb == "DATA":
                        if mail_from is None or not rcpts:
                            self.send("503 5.5.1 need MAIL and RCPT first")
                            continue
                        self.send("354 end with <CRLF>.<CRLF>")
                        data = _read_data(self.rfile)
                        if receiver.data_reply:
                            self.send(receiver.data_reply)
                            continue
                        with receiver._cond:
                            receiver.mails.append(Mail(mail_from, rcpts, data, self.secure, self.user))
                            receiver._cond.notify_all()
                        self.send("250 2.0.0 queued")
                        mail_from, rcpts = None, []
                    elif verb == "RSET":
                        mail_from, rcpts = None, []
                        self.send("250 ok")
                    elif verb == "NOOP":
                        self.send("250 ok")
                    elif verb == "QUIT":
                        self.send("221 bye")
                        return
                    else:
                        self.send("502 5.5.2 command not implemented")

            def _auth(self, arg: str) -> None:
                mech, _, initial = arg.partition(" ")
                if mech.upper() == "PLAIN":
                    if not initial:
                        self.send("334 ")
                        initial = self.rfile.readline().decode().strip()
                    parts = base64.b64decode(initial).split(b"\0")
                    user, password = parts[1].decode(), parts[2].decode()
                elif mech.upper() == "LOGIN":
                    self.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.rfile.readline().strip()).decode()
                    self.send("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(self.rfile.readline().strip()).decode()
                else:
                    self.send("504 5.5.4 mechanism not supported")
                    return
                if receiver.auth == (user, password):
                    self.user = user
                    self.send("235 2.7.0 authenticated")
                else:
                    self.send("535 5.7.8 bad credentials")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="smtp-receiver", daemon=True)
        self._thread.start()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.mails) < count and deadline - time.monotonic() > 0:
                self._cond.wait(deadline - time.monotonic())
            return list(self.mails)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _addr(arg: str) -> str:
    start, end = arg.find("<"), arg.find(">")
    return arg[start + 1:end] if 0 <= start < end else arg.split(":", 1)[-1].strip()


def _read_data(rfile: IO[bytes] | Any) -> bytes:
    lines = []
    while True:
        line = rfile.readline()
        if not line or line in (b".\r\n", b".\n"):
            break
        lines.append(line[1:] if line.startswith(b"..") else line)  # RFC 5321 4.5.2 dot-unstuffing
    return b"".join(lines)


def self_signed_cert(directory: Path) -> tuple[Path, Path] | None:
    """(cert, key) for 127.0.0.1/localhost made with the openssl CLI, or None when it is missing."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key
