"""Cross-cutting building blocks: database base, transactions, errors, fields, pagination."""
