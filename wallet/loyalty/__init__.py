"""Loyalty programs: earning rules, the append-only points ledger, rewards, stamp cards and tiers."""
