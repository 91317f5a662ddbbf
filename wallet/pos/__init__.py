"""The till: who is at it, scans, purchases and refunds that earn and take back points, and
coupons redeemed exactly once."""
