import time
from tests.e2e.conftest import axe_violations, PORTRAIT, LANDSCAPE
from tests.e2e.test_kiosk_a11y import check, sizes_ok
def test_prof(kiosk_page, shots):
    page = kiosk_page
    for p in ["/kiosk/", "/kiosk/menu", "/kiosk/find", "/kiosk/questions/carts", "/kiosk/find/number"]:
        page.goto(p)
        t=time.time(); axe_violations(page); a=time.time()-t
        t=time.time(); page.set_viewport_size(LANDSCAPE); axe_violations(page); b=time.time()-t
        t=time.time(); page.set_viewport_size(PORTRAIT); shots(page, "x"); c=time.time()-t
        t=time.time(); sizes_ok(page); d=time.time()-t
        print(p, "axe %.2f axe-land %.2f shots %.2f sizes %.2f" % (a,b,c,d))
