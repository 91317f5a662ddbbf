"""Brands (the tenants), their stores, their staff and their POS keys."""
