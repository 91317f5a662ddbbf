"""Offers attached to geofences, their targeting and caps, and the coupons they issue."""
