"""Barcode/QR rendering and unforgeable pass codes."""
