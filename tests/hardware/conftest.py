import pytest

from tests.hardware.loopback import ONLINE, LoopbackPrinter


@pytest.fixture
def loopback():
    printers = []

    def make(replies=ONLINE):
        p = LoopbackPrinter(replies)
        printers.append(p)
        return p

    yield make
    for p in printers:
        p.close()
