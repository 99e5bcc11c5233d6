"""Printer URLs, profiles, status (over a real loopback socket) and the drawer kick."""

from __future__ import annotations

import pytest

from hardware import devices
from hardware.devices import (
    DeviceURLError,
    PrinterError,
    PrinterStatus,
    check_status,
    open_drawer,
    parse_printer_url,
    send_job,
    status_from_replies,
)
from tests.hardware.loopback import COVER_OPEN, ONLINE, PAPER_LOW, PAPER_OUT


def test_tcp_url_with_profile_and_defaults():
    a = parse_printer_url("tcp://10.0.0.21:9100?profile=TM-T20II")
    assert (a.scheme, a.host, a.port) == ("tcp", "10.0.0.21", 9100)
    assert (a.profile.width_dots, a.profile.columns) == (576, 48)
    b = parse_printer_url("tcp://printer.local")
    assert b.port == 9100 and b.profile.name == "TM-T88V"
    assert (b.profile.width_dots, b.profile.columns) == (512, 42)


def test_usb_serial_file_cups_preview_urls():
    u = parse_printer_url("usb://04b8:0202")
    assert (u.vendor_id, u.product_id) == (0x04B8, 0x0202)
    s = parse_printer_url("serial:///dev/ttyUSB0?baudrate=19200")
    assert (s.path, s.baudrate) == ("/dev/ttyUSB0", 19200)
    f = parse_printer_url("file:///dev/usb/lp0")
    assert f.path == "/dev/usb/lp0"
    c = parse_printer_url("cups://Receipt_Front")
    assert c.path == "Receipt_Front"
    p = parse_printer_url("preview://")
    assert p.is_preview and p.profile.name == "TM-T88V"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "No printer URL"),
        ("lpt://1", "Unknown printer URL scheme"),
        ("tcp://:9100", "has no host"),
        ("tcp://host:99999", "Bad port"),
        ("usb://epson", "vendor and product id in hex"),
        ("usb://0000:0202", "between 0001 and ffff"),
        ("serial://dev/ttyUSB0", "three slashes"),
        ("serial:///dev/ttyUSB0?baudrate=fast", "baudrate must be a number"),
        ("serial:///dev/ttyUSB0?baudrate=5", "between 1200"),
        ("cups://", "name the CUPS queue"),
        ("tcp://h:9100?profile=TM-X", "Unknown printer profile"),
        ("tcp://h:9100?colour=red", "Unknown printer URL option"),
        ("tcp://h:9100?drawer_pin=3", "drawer_pin must be 2 or 5"),
    ],
)
def test_bad_urls_say_what_is_wrong(url, says):
    with pytest.raises(DeviceURLError, match=says):
        parse_printer_url(url)


def test_open_printer_gives_python_escpos_objects():
    from escpos import printer as ep

    assert isinstance(devices.open_printer("preview://"), ep.Dummy)
    net = devices.open_printer("tcp://127.0.0.1:9?profile=TM-T20II")
    assert isinstance(net, ep.Network) and net.host == "127.0.0.1" and net.port == 9
    assert isinstance(devices.open_printer("file:///tmp/nowhere-lp0"), ep.File)


@pytest.mark.parametrize(
    ("replies", "status"),
    [
        ((0x12, 0x12, 0x12), PrinterStatus.ONLINE),
        ((0x12, 0x12, 0x1E), PrinterStatus.PAPER_LOW),
        ((0x12, 0x32, 0x72), PrinterStatus.PAPER_OUT),
        ((0x12, 0x16, 0x12), PrinterStatus.COVER_OPEN),
        ((0x1A, 0x12, 0x12), PrinterStatus.OFFLINE),
        ((None, None, None), PrinterStatus.UNKNOWN),  # silence is not "paper OK"
        ((0x12, None, None), PrinterStatus.UNKNOWN),
        ((0x00, 0x00, 0x00), PrinterStatus.UNKNOWN),  # not a status byte
    ],
)
def test_status_decoding(replies, status):
    assert status_from_replies(*replies) is status


@pytest.mark.parametrize(
    ("replies", "status"),
    [
        (ONLINE, PrinterStatus.ONLINE),
        (PAPER_LOW, PrinterStatus.PAPER_LOW),
        (PAPER_OUT, PrinterStatus.PAPER_OUT),
        (COVER_OPEN, PrinterStatus.COVER_OPEN),
        (None, PrinterStatus.UNKNOWN),
    ],
)
def test_status_over_a_loopback_socket(loopback, replies, status):
    printer = loopback(replies)
    assert check_status(printer.url) is status


def test_nothing_listening_is_offline():
    from tests.support.emupos import free_port

    assert check_status(f"tcp://127.0.0.1:{free_port()}?timeout=0.5") is PrinterStatus.OFFLINE


def test_preview_is_always_online():
    assert check_status("preview://") is PrinterStatus.ONLINE


def test_send_job_checks_status_first_and_sends_nothing_to_a_faulted_printer(loopback):
    printer = loopback(PAPER_OUT)
    with pytest.raises(PrinterError) as err:
        send_job(printer.url, b"RECEIPT\x1dV\x00")
    assert err.value.status is PrinterStatus.PAPER_OUT
    printer.wait_closed(1)
    assert b"RECEIPT" not in printer.received


def test_send_job_to_a_silent_printer_waits(loopback):
    printer = loopback(None)
    with pytest.raises(PrinterError) as err:
        send_job(printer.url, b"RECEIPT")
    assert err.value.status is PrinterStatus.UNKNOWN
    printer.wait_closed(1)
    assert b"RECEIPT" not in printer.received


def test_send_job_delivers_the_bytes_after_the_status_check(loopback):
    printer = loopback(PAPER_LOW)
    assert send_job(printer.url, b"RECEIPT\x1dV\x00") is PrinterStatus.PAPER_LOW
    printer.wait_closed(1)
    assert printer.received.startswith(b"\x10\x04\x01\x10\x04\x02\x10\x04\x04")
    # the job, then one real-time status request confirming the printer read all of it
    assert printer.received.endswith(b"RECEIPT\x1dV\x00\x10\x04\x01")


def test_drawer_kick_goes_through_the_printer(loopback):
    printer = loopback(ONLINE)
    open_drawer(printer.url)
    printer.wait_closed(1)
    assert printer.received.endswith(b"\x1bp\x00\x19\xfa\x10\x04\x01")
    pin5 = loopback(ONLINE)
    open_drawer(pin5.url + "&drawer_pin=5")
    pin5.wait_closed(1)
    assert pin5.received.endswith(b"\x1bp\x01\x19\xfa\x10\x04\x01")


def test_file_printer_takes_the_job(tmp_path):
    target = tmp_path / "lp0"
    target.write_bytes(b"")
    send_job(f"file://{target}", b"HELLO")
    assert target.read_bytes() == b"HELLO"


def test_escpos_status_wraps_timeouts_and_empty_replies(monkeypatch):
    """USB and serial go through python-escpos; its two traps are wrapped. (No USB printer
    here, so the driver object is replaced: the only mock in these tests.)"""

    class Hung:
        def open(self):
            pass

        def close(self):
            pass

        def is_online(self):
            raise TimeoutError

    class Silent(Hung):
        def is_online(self):
            return True

        def query_status(self, _):
            return []  # python-escpos would report this as "paper OK"

    monkeypatch.setattr(devices, "open_printer", lambda _a: Hung())
    assert check_status("usb://04b8:0202") is PrinterStatus.UNKNOWN
    monkeypatch.setattr(devices, "open_printer", lambda _a: Silent())
    assert check_status("serial:///dev/ttyUSB0") is PrinterStatus.UNKNOWN
