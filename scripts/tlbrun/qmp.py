"""QEMU's machine protocol (QMP) over the run's unix socket: just enough for a screendump."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from .screens import ppm_complete


class QmpClient:
    def __init__(self, path: Path, deadline: float):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.settimeout(max(0.1, deadline - time.monotonic()))
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self._buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self._buf:
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd: str, **arguments):
        msg = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {cmd}: {reply['error'].get('desc', reply['error'])}")
            # events are skipped

    def close(self):
        self.sock.close()


def take_screendump(qmp_socket: Path, target: Path, deadline: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    qmp = QmpClient(qmp_socket, deadline)
    try:
        qmp.execute("screendump", filename=str(target))
    finally:
        qmp.close()
    while not ppm_complete(target):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"screendump {target} incomplete")
        time.sleep(0.05)

