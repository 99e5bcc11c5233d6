"""The link to the customer information system (CIS), the billing system of record.

One adapter interface, two adapters: ``file`` (CSV in, posting files out) and ``http`` (JSON
with a CIS web service). Records leave through the outbox under the topics in ``TOPICS``.
"""
