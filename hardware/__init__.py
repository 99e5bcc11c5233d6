"""Devices addressed by URL (printers, cash drawer, card readers) and bill-barcode parsing.

This package imports nothing else of ours.
"""
