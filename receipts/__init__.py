"""Receipts: the document, its renderers (ESC/POS, PDF, text, PNG) and the print queue."""
