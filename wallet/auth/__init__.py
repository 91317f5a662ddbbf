"""Accounts, sessions, tokens, API keys and the permission checks built on them."""
