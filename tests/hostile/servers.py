"""Misbehaving peers for the hostile-input suite, all on 127.0.0.1 with ephemeral ports.

``RawServer`` runs a function per accepted connection on the raw socket, so a test can send
exactly the bytes (and the pauses) an attacker would: a status line, then one byte every half
second. ``Slowloris`` is the other direction: many client connections that send half a request
and then nothing.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable


class RawServer:
    """Accepts connections and hands each socket to ``handler`` on its own thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-server", daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            _read_request_head(conn)
            self.handler(conn)
        except OSError:
            pass  # the client hung up, which is what the tests want it to do
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


def _read_request_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def dribble(conn: socket.socket, data: bytes, *, every: float, for_at_most: float) -> None:
    """Send ``data`` one byte at a time, ``every`` seconds apart, giving up after ``for_at_most``."""
    deadline = time.monotonic() + for_at_most
    for i in range(len(data)):
        if time.monotonic() > deadline:
            return
        conn.sendall(data[i:i + 1])
        time.sleep(every)


class Slowloris:
    """``count`` connections to ``port`` that each send an incomplete request and then wait."""

    def __init__(self, port: int, count: int, partial: bytes) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(partial)
            self.socks.append(s)

    def closed_by_server(self, wait: float = 0.0) -> int:
        """How many of the connections the server has closed (EOF or reset) within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        open_socks = {s.fileno(): s for s in self.socks}
        closed = 0
        with selectors.DefaultSelector() as sel:
            for s in self.socks:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            while open_socks:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                for key, _ in sel.select(timeout):
                    s = open_socks[key.fd]
                    try:
                        data = s.recv(65536)  # a 4xx/5xx answer may come first: read past it
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(s)
                        del open_socks[key.fd]
                        closed += 1
        return closed

    def close(self) -> None:
        for s in self.socks:
            s.close()
