"""What a shopper agreed to: per-brand opt-ins (and, later, export, erasure and retention)."""
