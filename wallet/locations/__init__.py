"""Ingestion of the phone's positions and region events: filters, presence, and the coupons they trigger."""
