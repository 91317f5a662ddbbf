"""Retailer insight: offer funnels (aggregated, with small counts suppressed) and their pictures."""
