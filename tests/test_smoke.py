def test_healthz_reports_database_and_outbox(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["outbox"]["pending"] == 0


def test_staff_login_reaches_counter(client, login_as):
    login_as("cashier")
    assert client.get("/counter/").status_code == 200


def test_kiosk_device_reaches_kiosk_only(kiosk_client):
    assert kiosk_client.get("/kiosk/").status_code == 200
    assert kiosk_client.get("/counter/").status_code == 403
