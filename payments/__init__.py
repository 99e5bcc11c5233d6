"""Money: payments and tenders, the ledger, the audit chain, the outbox, business days.

Nothing in this package imports Flask: views and CLI commands call these functions with a
SQLAlchemy session and commit the unit of work themselves.
"""
