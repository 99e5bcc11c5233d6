"""emupos, a wire-level ESC/POS printer and cash-drawer simulator, run for the tests.

emupos needs Python >= 3.13, so it lives in its own venv (``.venv-emupos/`` in the repository,
created here with pyenv's 3.13 if missing; ``make install-test`` creates it too). It runs as a
subprocess listening on 127.0.0.1 only: a printer port for our code and a control API the
tests use to read receipts (text and PNG), inject faults and watch the drawer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-emupos"
EMUPOS = VENV / "bin" / "emupos"
DEVICE = "front"


class EmuposUnavailable(RuntimeError):
    pass


def _python313() -> str:
    candidates = []
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
    if root.returncode == 0:
        candidates += sorted(Path(root.stdout.strip(), "versions").glob("3.1[3-9]*/bin/python"))
    candidates += [Path(p) for p in (shutil.which("python3.13"), shutil.which("python3.14")) if p]
    for c in candidates:
        if c.exists():
            return str(c)
    raise EmuposUnavailable("emupos needs Python 3.13+ (pyenv install 3.13.0)")


def ensure_installed() -> Path:
    if EMUPOS.exists():
        return EMUPOS
    subprocess.run([_python313(), "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", "emupos>=0.4,<0.5"], check=True, timeout=600
    )
    return EMUPOS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emupos:
    process: subprocess.Popen
    api: str
    printer_port: int
    workdir: Path

    @property
    def printer_url(self) -> str:
        return f"tcp://127.0.0.1:{self.printer_port}?profile=TM-T20II&timeout=1"

    def _url(self, path: str) -> str:
        return f"{self.api}/api/v1/devices/{DEVICE}{path}"

    def state(self) -> dict:
        r = requests.get(self._url(""), timeout=5)
        r.raise_for_status()
        return r.json()["state"]

    def receipts(self) -> list[dict]:
        """Completed receipts, newest first."""
        r = requests.get(self._url("/receipts"), timeout=5)
        r.raise_for_status()
        return r.json()

    def text(self, receipt_id: str) -> str:
        r = requests.get(self._url(f"/receipts/{receipt_id}/text"), timeout=5)
        r.raise_for_status()
        return r.content.decode("utf-8")

    def image(self, receipt_id: str) -> bytes:
        r = requests.get(self._url(f"/receipts/{receipt_id}/image"), timeout=5)
        r.raise_for_status()
        return r.content

    def fault(self, name: str, active: bool = True) -> None:
        method = requests.put if active else requests.delete
        r = method(self._url(f"/faults/{name}"), timeout=5)
        r.raise_for_status()

    def close_drawer(self) -> None:
        requests.post(self._url("/drawer/close"), timeout=5).raise_for_status()

    def reset(self) -> None:
        for name in ("paper-out", "cover-open", "offline", "paper-near-end"):
            self.fault(name, False)
        if self.state()["drawer"] == "open":
            self.close_drawer()

    def wait_for_receipts(self, count: int, deadline_s: float = 10) -> list[dict]:
        """Poll until at least ``count`` receipts are complete (a readiness wait, not a
        timing assertion: the printer completes a job when it sees the cut)."""
        end = time.monotonic() + deadline_s
        while True:
            found = self.receipts()
            if len(found) >= count or time.monotonic() > end:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(workdir: Path) -> Emupos:
    exe = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    api_port, printer_port = free_port(), free_port()
    config = workdir / "emupos.yaml"
    config.write_text(
        "schema: 1\n"
        f"api: {{ host: 127.0.0.1, port: {api_port} }}\n"
        "devices:\n"
        f"  - id: {DEVICE}\n"
        "    type: printer\n"
        "    profile: epson-tm-t20iii\n"
        "    connections:\n"
        f"      - tcp: {{ host: 127.0.0.1, port: {printer_port} }}\n"
        "    job_idle_timeout_ms: 500\n"
        f"    receipts_dir: {workdir / 'receipts'}\n"
    )
    log = open(workdir / "emupos.log", "wb")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    process = subprocess.Popen(
        [str(exe), "run", "--config", str(config)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    emu = Emupos(process, f"http://127.0.0.1:{api_port}", printer_port, workdir)
    end = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise EmuposUnavailable(
                f"emupos exited: {(workdir / 'emupos.log').read_text(errors='replace')[-2000:]}"
            )
        try:
            requests.get(f"{emu.api}/api/v1/health", timeout=1).raise_for_status()
            with socket.create_connection(("127.0.0.1", printer_port), timeout=1):
                pass
            return emu
        except (requests.RequestException, OSError):
            if time.monotonic() > end:
                emu.stop()
                raise EmuposUnavailable("emupos did not start within 30 s") from None
            time.sleep(0.1)


if __name__ == "__main__":  # python -m tests.support.emupos: install only (make install-test)
    print(ensure_installed(), file=sys.stderr)
