#!/usr/bin/env python3
"""Walk the demo shopper past and into a demo store, against a running server, and print what happens.

    make run                      # in one terminal
    .venv/bin/python scripts/simulate_walk.py [--base-url http://127.0.0.1:5000]

The walk is replayed in time-lapse: its fixes carry the times they would have had over the last
nine minutes (the server refuses fixes older than ten), sent in batches as a phone would, so the
approach, the entry, the dwell and the exit all happen within a few seconds of wall time.
Only the standard library is used; nothing but the given server is contacted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import urllib.error
import urllib.request
from typing import Any

EARTH_RADIUS_M = 6_371_008.8


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {path} -> {error.code}: {error.read().decode()}")


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + math.degrees(north_m / EARTH_RADIUS_M),
            lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))))


def walk(lat: float, lon: float, minutes_inside: float) -> list[tuple[float, float, float, float]]:
    """(seconds from the start, lat, lon, accuracy): 150 m west of the store to its centre at walking
    pace, a stay inside, then 150 m east again. One fix every 10 s."""
    fixes, t = [], 0.0
    for east in range(-150, 1, 15):  # 1.5 m/s
        fixes.append((t, *offset(lat, lon, 0, east), 8.0))
        t += 10
    stay_until = t + minutes_inside * 60
    while t < stay_until:
        fixes.append((t, *offset(lat, lon, 3 * math.sin(t), 3 * math.cos(t)), 6.0))  # GPS jitter indoors
        t += 10
    for east in range(15, 151, 15):
        fixes.append((t, *offset(lat, lon, 0, east), 8.0))
        t += 10
    return fixes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--email", default="shopper@demo.wallet")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--store", default="Lumière Châtelet", help="a store of the demo catalogue")
    parser.add_argument("--device-token", default="demo-phone-push-token",
                        help="the push token registered for this walk's phone")
    parser.add_argument("--minutes-inside", type=float, default=5.5,
                        help="at most 6.5: the whole walk must fit in the server's 10-minute freshness window")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")

    token = call(base, "POST", "/v1/auth/shoppers/sign-in", {"email": args.email, "password": args.password})[
        "access_token"]
    call(base, "PATCH", "/v1/me", {"consents": {"location": True}}, token)
    # As the app does at start-up: register this phone for pushes (the server's `log` provider prints
    # each push it would send to FCM; `make run` runs the dispatcher in the server process).
    call(base, "POST", "/v1/me/devices", {"token": args.device_token, "platform": "android",
                                          "app_version": "1.0.0", "locale": "fr-FR"}, token)
    store = None
    for brand in call(base, "GET", "/v1/catalogue/brands?page_size=100"):
        for candidate in call(base, "GET", f"/v1/catalogue/brands/{brand['id']}/stores?page_size=100"):
            if candidate["name"] == args.store:
                store = candidate
    if store is None:
        sys.exit(f"no store named {args.store!r} in the catalogue")
    lon, lat = store["location"]["coordinates"]
    print(f"walking past and into {store['name']} ({lat:.5f}, {lon:.5f})")

    fixes = walk(lat, lon, args.minutes_inside)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=fixes[-1][0] + 5)
    coupons = 0
    for first in range(0, len(fixes), 6):  # a phone batching a minute of fixes
        batch = [
            {"lat": la, "lon": lo, "accuracy_m": acc, "recorded_at": (start + dt.timedelta(seconds=t)).isoformat()}
            for t, la, lo, acc in fixes[first:first + 6]
        ]
        answer = call(base, "POST", "/v1/me/locations", {"fixes": batch}, token)
        refused = {reason: n for reason, n in answer["rejected"].items() if n}
        clock = f"+{fixes[first][0] / 60:4.1f} min"
        for event in answer["events"]:
            print(f"{clock}  {event['type'].upper():5}  geofence {event['geofence_id']}")
        for coupon in answer["coupons"]:
            coupons += 1
            print(f"{clock}  COUPON offer {coupon['offer_id']} ({coupon['trigger']}), expires {coupon['expires_at']}")
        if refused:
            print(f"{clock}  refused fixes: {refused}")
    regions = answer["monitor"]["regions"]
    print(f"done: {coupons} coupon(s); the phone now monitors {len(regions)} region(s) "
          f"and re-syncs beyond {answer['monitor']['resync']['radius_m']:.0f} m")
    mine = call(base, "GET", "/v1/me/coupons", token=token)
    print(f"GET /v1/me/coupons: {len(mine)} coupon(s); the server's log shows the push sent for each "
          f"(or why it was held back: daily cap, quiet hours, consent)")


if __name__ == "__main__":
    main()
