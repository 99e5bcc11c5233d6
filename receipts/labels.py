"""Every word printed on a receipt or queue ticket, in English, Spanish and Vietnamese,
plus the one helper that formats money, dates and times in the receipt's language."""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency

LANGUAGES = ("en", "es", "vi")
_BABEL_LOCALE = {"en": "en_US", "es": "es_US", "vi": "vi_VN"}
# Dollars the US way in every language, as ``payments.money.format_amount`` writes them
# (receipts do not import payments; tests/receipts/test_render.py checks the two agree).
_MONEY_LOCALE = {"en": "en_US", "es": "es_US", "vi": "en_US"}

LABELS: dict[str, dict[str, str]] = {
    "receipt_title": {
        "en": "PAYMENT RECEIPT",
        "es": "RECIBO DE PAGO",
        "vi": "BIÊN LAI THANH TOÁN",
    },
    "receipt_number": {"en": "Receipt no.", "es": "Recibo n.º", "vi": "Số biên lai"},
    "date": {"en": "Date", "es": "Fecha", "vi": "Ngày"},
    "time": {"en": "Time", "es": "Hora", "vi": "Giờ"},
    "station": {"en": "Station", "es": "Estación", "vi": "Quầy"},
    "cashier": {"en": "Cashier", "es": "Cajero(a)", "vi": "Thu ngân"},
    "kiosk": {"en": "Kiosk", "es": "Quiosco", "vi": "Máy tự phục vụ"},
    "account": {"en": "Account", "es": "Cuenta", "vi": "Tài khoản"},
    "name": {"en": "Name", "es": "Nombre", "vi": "Tên"},
    "service_address": {
        "en": "Service address",
        "es": "Dirección del servicio",
        "vi": "Địa chỉ dịch vụ",
    },
    "bills_paid": {"en": "Bills paid", "es": "Facturas pagadas", "vi": "Hóa đơn đã thanh toán"},
    "bill": {"en": "Bill", "es": "Factura", "vi": "Hóa đơn"},
    "amount_paid": {"en": "Amount paid", "es": "Total pagado", "vi": "Số tiền đã trả"},
    "paid_with": {"en": "Paid with", "es": "Forma de pago", "vi": "Hình thức thanh toán"},
    "tender_cash": {"en": "Cash", "es": "Efectivo", "vi": "Tiền mặt"},
    "tender_card": {"en": "Card", "es": "Tarjeta", "vi": "Thẻ"},
    "tender_check": {"en": "Check", "es": "Cheque", "vi": "Séc"},
    "tender_money_order": {"en": "Money order", "es": "Giro postal", "vi": "Phiếu chuyển tiền"},
    "tendered": {"en": "Tendered", "es": "Recibido", "vi": "Đã nhận"},
    "change": {"en": "Change", "es": "Cambio", "vi": "Tiền thối lại"},
    "auth_code": {"en": "Auth. code", "es": "Cód. de autorización", "vi": "Mã cấp phép"},
    "balance_after": {
        "en": "Balance after payment",
        "es": "Saldo después del pago",
        "vi": "Số dư sau khi thanh toán",
    },
    "credit_after": {
        "en": "Credit after payment",
        "es": "Saldo a favor después del pago",
        "vi": "Số dư có sau khi thanh toán",
    },
    "balance_now": {
        "en": "Account balance now",
        "es": "Saldo actual de la cuenta",
        "vi": "Số dư tài khoản hiện tại",
    },
    "credit_now": {
        "en": "Account credit now",
        "es": "Saldo a favor actual",
        "vi": "Số dư có hiện tại",
    },
    "service_request": {
        "en": "Service request",
        "es": "Solicitud de servicio",
        "vi": "Yêu cầu dịch vụ",
    },
    "void": {"en": "*** VOID ***", "es": "*** ANULADO ***", "vi": "*** ĐÃ HỦY ***"},
    "refunded": {"en": "Refunded", "es": "Reembolsado", "vi": "Đã hoàn tiền"},
    "refunded_mark": {
        "en": "*** REFUNDED ***",
        "es": "*** REEMBOLSADO ***",
        "vi": "*** ĐÃ HOÀN TIỀN ***",
    },
    "partly_refunded_mark": {
        "en": "*** PARTLY REFUNDED ***",
        "es": "*** REEMBOLSO PARCIAL ***",
        "vi": "*** ĐÃ HOÀN TIỀN MỘT PHẦN ***",
    },
    "reprint": {"en": "*** REPRINT ***", "es": "*** REIMPRESIÓN ***", "vi": "*** BẢN IN LẠI ***"},
    "thank_you": {
        "en": "Thank you for your payment.",
        "es": "Gracias por su pago.",
        "vi": "Cảm ơn quý khách đã thanh toán.",
    },
    "keep_receipt": {
        "en": "Please keep this receipt.",
        "es": "Por favor, conserve este recibo.",
        "vi": "Xin vui lòng giữ biên lai này.",
    },
    "phone": {"en": "Tel.", "es": "Tel.", "vi": "ĐT"},
    # Queue tickets
    "ticket_title": {"en": "YOUR NUMBER", "es": "SU NÚMERO", "vi": "SỐ CỦA QUÝ KHÁCH"},
    "ticket_service": {"en": "Service", "es": "Servicio", "vi": "Dịch vụ"},
    "ticket_wait": {
        "en": "Estimated wait",
        "es": "Espera estimada",
        "vi": "Thời gian chờ ước tính",
    },
    "ticket_minutes": {"en": "about {n} min", "es": "aprox. {n} min", "vi": "khoảng {n} phút"},
    "ticket_no_wait": {"en": "next", "es": "enseguida", "vi": "ngay bây giờ"},
    "ticket_help": {
        "en": "Please wait until your number is called.",
        "es": "Espere hasta que llamen su número.",
        "vi": "Xin vui lòng chờ đến khi số của quý khách được gọi.",
    },
    "service_billing": {
        "en": "Billing and payments",
        "es": "Facturación y pagos",
        "vi": "Hóa đơn và thanh toán",
    },
    "service_start_stop": {
        "en": "Start or stop service",
        "es": "Iniciar o suspender el servicio",
        "vi": "Bắt đầu hoặc ngừng dịch vụ",
    },
    "service_other": {"en": "Other questions", "es": "Otras consultas", "vi": "Câu hỏi khác"},
    # Service-request slips
    "sr_title": {
        "en": "SERVICE REQUEST",
        "es": "SOLICITUD DE SERVICIO",
        "vi": "YÊU CẦU DỊCH VỤ",
    },
    "sr_reference": {
        "en": "Your reference number",
        "es": "Su número de referencia",
        "vi": "Số tham chiếu của quý khách",
    },
    "sr_kind_bulky_item": {
        "en": "Bulky-item pickup",
        "es": "Recolección de objetos grandes",
        "vi": "Thu gom đồ cồng kềnh",
    },
    "sr_kind_cart_exchange": {
        "en": "Cart exchange or repair",
        "es": "Cambio o reparación de bote",
        "vi": "Đổi hoặc sửa thùng rác",
    },
    "sr_kind_missed_pickup": {
        "en": "Missed pickup",
        "es": "Recolección no realizada",
        "vi": "Bị bỏ sót thu gom",
    },
    "sr_next": {
        "en": "What happens next",
        "es": "Qué sigue",
        "vi": "Các bước tiếp theo",
    },
    "sr_step_received": {
        "en": "1. Received: we have your request.",
        "es": "1. Recibida: ya tenemos su solicitud.",
        "vi": "1. Đã nhận: chúng tôi đã nhận yêu cầu của quý khách.",
    },
    "sr_step_scheduled": {
        "en": "2. Scheduled: we give it a date and let you know.",
        "es": "2. Programada: le asignamos una fecha y se la comunicamos.",
        "vi": "2. Đã lên lịch: chúng tôi chọn ngày và báo cho quý khách.",
    },
    "sr_step_done": {
        "en": "3. Done: the work is finished.",
        "es": "3. Terminada: el trabajo está hecho.",
        "vi": "3. Hoàn tất: công việc đã xong.",
    },
    "sr_keep": {
        "en": "Keep this slip. Check your request at the kiosk with this number, or call us.",
        "es": "Conserve este comprobante. Consulte su solicitud en el quiosco con este número "
        "o llámenos.",
        "vi": "Xin giữ phiếu này. Quý khách có thể xem yêu cầu tại máy tự phục vụ bằng số này "
        "hoặc gọi cho chúng tôi.",
    },
    # Email
    "email_subject": {
        "en": "Your payment receipt {number}",
        "es": "Su recibo de pago {number}",
        "vi": "Biên lai thanh toán {number} của quý khách",
    },
    "email_body": {
        "en": "Thank you for your payment of {amount} to account {account}.\n"
        "Your receipt {number} is attached as a PDF.\n\n{office}",
        "es": "Gracias por su pago de {amount} a la cuenta {account}.\n"
        "Adjuntamos su recibo {number} en formato PDF.\n\n{office}",
        "vi": "Cảm ơn quý khách đã thanh toán {amount} cho tài khoản {account}.\n"
        "Biên lai {number} được đính kèm dưới dạng tệp PDF.\n\n{office}",
    },
}

SERVICE_LABELS = {
    "billing": "service_billing",
    "start_stop": "service_start_stop",
    "other": "service_other",
}


def language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "en"


def label(key: str, lang: str, **values: object) -> str:
    """The label in ``lang`` (English when the language is unknown), NFC-normalized."""
    text = LABELS[key][language(lang)]
    if values:
        text = text.format(**values)
    return unicodedata.normalize("NFC", text)


def _plain_spaces(text: str) -> str:
    # babel uses no-break and narrow no-break spaces; printers' code pages lack U+202F.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def money(cents: int, lang: str) -> str:
    """Cents as currency in the receipt's language: 8450 -> "$84.50" (see payments.money)."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError("money takes an int of cents")
    return _money(cents, language(lang))


@functools.lru_cache(maxsize=4096)
def _money(cents: int, lang: str) -> str:
    value = Decimal(cents).scaleb(-2)
    return _plain_spaces(format_currency(value, "USD", locale=_MONEY_LOCALE[lang]))


def local_date(day: dt.date, lang: str) -> str:
    return _plain_spaces(format_date(day, "medium", locale=_BABEL_LOCALE[language(lang)]))


def local_day(at: dt.datetime, tz: str = "America/Los_Angeles") -> dt.date:
    """The office's local date of a UTC moment."""
    return at.astimezone(ZoneInfo(tz)).date()


def local_time(at: dt.datetime, lang: str, tz: str = "America/Los_Angeles") -> str:
    local = at.astimezone(ZoneInfo(tz))
    return _plain_spaces(format_time(local, "short", locale=_BABEL_LOCALE[language(lang)]))
