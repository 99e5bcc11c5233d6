"""Receipt printers addressed by URL, their profiles, status and the cash drawer behind them.

One place parses device URLs::

    tcp://10.0.0.21:9100?profile=TM-T20II    network printer (raw port 9100)
    usb://04b8:0202                           USB, vendor:product id in hex
    serial:///dev/ttyUSB0?baudrate=19200      serial port
    file:///dev/usb/lp0                       a device file
    cups://Receipt_Front                      a CUPS queue
    preview://                                no device: receipts are saved and shown on screen

Status over TCP is read with the real-time DLE EOT requests on our own socket with a timeout,
so a printer that never answers is reported as ``unknown`` instead of hanging or, as
python-escpos does on an empty reply, "paper OK".
"""

from __future__ import annotations

import enum
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("tcp", "usb", "serial", "file", "cups", "preview")

# DLE EOT n (real-time status) and DLE DC4 / ESC p (drawer kick), Epson ESC/POS reference.
DLE_EOT = b"\x10\x04"
DRAWER_KICK_PIN2 = b"\x1bp\x00\x19\xfa"  # ESC p 0 t1=50 ms t2=500 ms
DRAWER_KICK_PIN5 = b"\x1bp\x01\x19\xfa"


class DeviceURLError(ValueError):
    """A printer URL that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class PrinterProfile:
    """What a receipt is laid out for: printable width in dots and Font A columns."""

    name: str  # python-escpos profile name
    width_dots: int
    columns: int
    dpi: int


PROFILES: dict[str, PrinterProfile] = {
    "TM-T88V": PrinterProfile("TM-T88V", 512, 42, 180),
    "TM-T20II": PrinterProfile("TM-T20II", 576, 48, 203),
    "TM-T88IV": PrinterProfile("TM-T88IV", 512, 42, 180),
    "default": PrinterProfile("default", 512, 42, 180),
}
DEFAULT_PROFILE = "TM-T88V"


@dataclass(frozen=True)
class PrinterAddress:
    """A parsed printer URL."""

    scheme: str
    url: str
    profile: PrinterProfile
    host: str | None = None
    port: int | None = None
    path: str | None = None  # serial device, device file or CUPS queue name
    vendor_id: int | None = None
    product_id: int | None = None
    baudrate: int = 9600
    timeout: float = 2.0
    drawer_pin: int = 2
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_preview(self) -> bool:
        return self.scheme == "preview"


def parse_printer_url(url: str) -> PrinterAddress:
    """Parse a printer URL or raise ``DeviceURLError`` with a clear message."""
    if not isinstance(url, str) or not url.strip():
        raise DeviceURLError("No printer URL given; use for example tcp://10.0.0.21:9100.")
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise DeviceURLError(
            f"Unknown printer URL scheme {parts.scheme!r} in {url!r}; "
            f"use one of {', '.join(s + '://' for s in SCHEMES)}."
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known = {"profile", "baudrate", "timeout", "drawer_pin"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise DeviceURLError(f"Unknown printer URL option(s) {', '.join(unknown)} in {url!r}.")
    profile_name = query.get("profile") or DEFAULT_PROFILE
    if profile_name not in PROFILES:
        raise DeviceURLError(
            f"Unknown printer profile {profile_name!r}; use one of {', '.join(PROFILES)}."
        )
    common = {
        "scheme": scheme,
        "url": url,
        "profile": PROFILES[profile_name],
        "timeout": _number(query, "timeout", 2.0, float, 0.05, 60),
        "drawer_pin": _number(query, "drawer_pin", 2, int, 2, 5),
        "options": query,
    }
    if common["drawer_pin"] not in (2, 5):
        raise DeviceURLError("drawer_pin must be 2 or 5.")

    if scheme == "tcp":
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise DeviceURLError(f"Bad port in {url!r}: {exc}.") from None
        if not host:
            raise DeviceURLError(f"{url!r} has no host; write tcp://HOST:9100.")
        return PrinterAddress(host=host, port=port or 9100, **common)
    if scheme == "usb":
        ids = parts.netloc or parts.path.strip("/")
        try:
            vid, pid = (int(x, 16) for x in ids.split(":"))
        except ValueError:
            raise DeviceURLError(
                f"{url!r}: write the USB vendor and product id in hex, e.g. usb://04b8:0202."
            ) from None
        if not (0 < vid <= 0xFFFF and 0 < pid <= 0xFFFF):
            raise DeviceURLError(f"{url!r}: USB ids must be between 0001 and ffff.")
        return PrinterAddress(vendor_id=vid, product_id=pid, **common)
    if scheme in ("serial", "file"):
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/"):
            raise DeviceURLError(
                f"{url!r}: give an absolute device path with three slashes, "
                f"e.g. {scheme}:///dev/{'ttyUSB0' if scheme == 'serial' else 'usb/lp0'}."
            )
        baud = _number(query, "baudrate", 9600, int, 1200, 921600)
        return PrinterAddress(path=path, baudrate=baud, **common)
    if scheme == "cups":
        name = unquote(parts.netloc or parts.path.strip("/"))
        if not name:
            raise DeviceURLError(f"{url!r}: name the CUPS queue, e.g. cups://Receipt_Front.")
        return PrinterAddress(path=name, **common)
    return PrinterAddress(**common)  # preview://


def _number(query, name, default, kind, low, high):
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise DeviceURLError(f"{name} must be a number, got {raw!r}.") from None
    if not low <= value <= high:
        raise DeviceURLError(f"{name} must be between {low} and {high}, got {raw!r}.")
    return value


def open_printer(address: PrinterAddress | str):
    """A python-escpos printer object for the address (``Dummy`` for preview://)."""
    if isinstance(address, str):
        address = parse_printer_url(address)
    from escpos import printer as ep

    profile = address.profile.name
    if address.scheme == "tcp":
        return ep.Network(address.host, port=address.port, timeout=address.timeout, profile=profile)
    if address.scheme == "usb":
        return ep.Usb(address.vendor_id, address.product_id, profile=profile)
    if address.scheme == "serial":
        return ep.Serial(
            address.path, baudrate=address.baudrate, timeout=address.timeout, profile=profile
        )
    if address.scheme == "file":
        return ep.File(address.path, profile=profile)
    if address.scheme == "cups":
        return ep.CupsPrinter(address.path, profile=profile)
    return ep.Dummy(profile=profile)


class PrinterStatus(enum.StrEnum):
    ONLINE = "online"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    UNKNOWN = "unknown"

    @property
    def can_print(self) -> bool:
        return self in (PrinterStatus.ONLINE, PrinterStatus.PAPER_LOW)


def status_from_replies(printer: int | None, offline: int | None, paper: int | None):
    """Decode DLE EOT 1, 2 and 4 replies; ``None`` (no reply) means unknown."""
    if printer is None or offline is None or paper is None:
        return PrinterStatus.UNKNOWN
    if any(b & 0x93 != 0x12 for b in (printer, offline, paper)):
        return PrinterStatus.UNKNOWN  # not a DLE EOT reply (fixed bits wrong)
    if paper & 0x60 or offline & 0x20:
        return PrinterStatus.PAPER_OUT
    if offline & 0x04:
        return PrinterStatus.COVER_OPEN
    if printer & 0x08:
        return PrinterStatus.OFFLINE
    if paper & 0x0C:
        return PrinterStatus.PAPER_LOW
    return PrinterStatus.ONLINE


def _read_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def query_status_socket(sock: socket.socket, timeout: float) -> PrinterStatus:
    """Ask DLE EOT 1, 2, 4 on an open socket; silence within ``timeout`` is unknown."""
    deadline = time.monotonic() + timeout
    replies: list[int | None] = []
    for n in (1, 2, 4):
        sock.sendall(DLE_EOT + bytes([n]))
        got = _read_exact(sock, 1, deadline)
        replies.append(got[0] if got else None)
        if not got:
            break
    replies += [None] * (3 - len(replies))
    return status_from_replies(*replies)


def _finish(sock: socket.socket, timeout: float) -> None:
    """After the job: one more real-time status request, whose answer means the printer has
    read everything before it, then read whatever else it sent before closing (closing with
    unread bytes makes the kernel reset the connection, which can drop data still in flight).
    Once the job has left, failures here are not errors: resending could print it twice."""
    try:
        sock.sendall(DLE_EOT + b"\x01")
        _read_exact(sock, 1, time.monotonic() + timeout)
        sock.shutdown(socket.SHUT_WR)
        sock.setblocking(False)
        while sock.recv(4096):
            pass
    except OSError:  # includes BlockingIOError: nothing more to read
        pass


class PrinterError(Exception):
    """The printer cannot take a job now (paper out, cover open, offline, unreachable)."""

    def __init__(self, message: str, status: PrinterStatus = PrinterStatus.UNKNOWN):
        super().__init__(message)
        self.status = status


def check_status(address: PrinterAddress | str) -> PrinterStatus:
    """The printer's status now. Preview is always online; silence or failure is unknown."""
    if isinstance(address, str):
        address = parse_printer_url(address)
    if address.is_preview:
        return PrinterStatus.ONLINE
    if address.scheme == "tcp":
        try:
            with socket.create_connection(
                (address.host, address.port), timeout=address.timeout
            ) as sock:
                return query_status_socket(sock, address.timeout)
        except OSError:
            return PrinterStatus.OFFLINE
    return _escpos_status(address)


def _escpos_status(address: PrinterAddress) -> PrinterStatus:
    """Status through python-escpos for USB/serial; its two traps are wrapped."""
    try:
        printer = open_printer(address)
        printer.open()
        try:
            online = printer.is_online()  # raises TimeoutError when nothing answers
            paper = printer.query_status(b"\x10\x04\x04")  # empty list when silent
        finally:
            printer.close()
    except (TimeoutError, OSError):
        return PrinterStatus.UNKNOWN
    except Exception:  # noqa: BLE001 - driver errors (usb.core, serial) mean we cannot tell
        return PrinterStatus.UNKNOWN
    if not paper:
        return PrinterStatus.UNKNOWN
    if not online:
        return PrinterStatus.OFFLINE
    return status_from_replies(0x12, 0x12, paper[0])


def send_job(address: PrinterAddress | str, data: bytes) -> PrinterStatus:
    """Send one job after checking the printer can take it; raise ``PrinterError`` if not.

    Over TCP the status check and the job use one connection, so nothing changes in between.
    A job is never sent to a printer that reports a fault: the printer would hold it and print
    it when the fault clears, and our retry would print it a second time.
    """
    if isinstance(address, str):
        address = parse_printer_url(address)
    if address.is_preview:
        raise PrinterError("preview:// has no device; save the receipt instead")
    if address.scheme == "tcp":
        try:
            with socket.create_connection(
                (address.host, address.port), timeout=address.timeout
            ) as sock:
                status = query_status_socket(sock, address.timeout)
                if not status.can_print:
                    raise PrinterError(f"printer is {status.value}", status)
                sock.settimeout(max(address.timeout, 5.0))
                sock.sendall(data)
                _finish(sock, address.timeout)
                return status
        except OSError as exc:
            raise PrinterError(f"printer unreachable: {exc}", PrinterStatus.OFFLINE) from exc
    status = check_status(address)
    if address.scheme in ("usb", "serial") and not status.can_print:
        raise PrinterError(f"printer is {status.value}", status)
    # file:// and cups:// cannot report status; they take the job or fail to open.
    try:
        printer = open_printer(address)
        printer._raw(data)
        printer.close()
    except Exception as exc:  # noqa: BLE001 - any driver failure: the job waits
        raise PrinterError(f"printer refused the job: {exc}", PrinterStatus.OFFLINE) from exc
    return status


def drawer_kick_bytes(pin: int = 2) -> bytes:
    return DRAWER_KICK_PIN5 if pin == 5 else DRAWER_KICK_PIN2


def open_drawer(address: PrinterAddress | str) -> None:
    """Kick the cash drawer hanging off the printer."""
    if isinstance(address, str):
        address = parse_printer_url(address)
    if address.is_preview:
        return
    send_job(address, drawer_kick_bytes(address.drawer_pin))
