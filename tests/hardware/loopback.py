"""A plain TCP socket on 127.0.0.1 standing in for a network printer: it records every byte
it receives and answers DLE EOT status requests with the bytes a test chooses (or not at all,
like a printer that has hung)."""

from __future__ import annotations

import socket
import threading
import time

ONLINE = {1: 0x12, 2: 0x12, 4: 0x12}
PAPER_OUT = {1: 0x12, 2: 0x32, 4: 0x72}
COVER_OPEN = {1: 0x12, 2: 0x16, 4: 0x12}
PAPER_LOW = {1: 0x12, 2: 0x12, 4: 0x1E}


class LoopbackPrinter:
    def __init__(self, replies: dict[int, int] | None = ONLINE):
        self.replies = replies  # None: never answer
        self.connections: list[bytes] = []
        self.closed = 0
        self.first_byte_at: float | None = None
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}?timeout=0.3"

    @property
    def received(self) -> bytes:
        return b"".join(self.connections)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        index = len(self.connections)
        self.connections.append(b"")
        data = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                if self.first_byte_at is None:
                    self.first_byte_at = time.perf_counter()
                start = max(0, len(data) - 2)
                data += chunk
                self.connections[index] = data
                if self.replies is None:
                    continue
                pos = data.find(b"\x10\x04", start)
                while pos != -1 and pos + 2 < len(data):
                    n = data[pos + 2]
                    if n in self.replies:
                        conn.sendall(bytes([self.replies[n]]))
                    pos = data.find(b"\x10\x04", pos + 3)
        self.closed += 1

    def wait_closed(self, count: int = 1, deadline_s: float = 5) -> None:
        """Wait until ``count`` connections have ended (a readiness wait, not a timing check)."""
        end = time.monotonic() + deadline_s
        while self.closed < count and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self._sock.close()
