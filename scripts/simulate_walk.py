#!/usr/bin/env python3
"""Walk the demo shopper past and into a demo store, against a running server, and print what happens.

    make run                      # in one terminal (make run PORT=8000: then PORT=8000 below too)
    .venv/bin/python scripts/simulate_walk.py [--url http://127.0.0.1:5000]

The server is --url, else http://$HOST:$PORT as `make run HOST=… PORT=…` serves it (default
http://127.0.0.1:5000). The walk is replayed in time-lapse: its fixes carry the times they would
have had over the last nine minutes (the server refuses fixes older than ten), sent in batches as
a phone would, so the approach, the entry, the dwell and the exit all happen within a few seconds
of wall time. When the walk enters nothing or earns no coupon (run it twice), the script says why,
from what the API tells the shopper: the presence the server keeps for the store's fence (already
inside, or re-entering within the cooldown after an exit), the coupons already received (an offer's
per-shopper cap or cooldown), fixes refused, and what became of each push.
Only the standard library is used; nothing but the given server is contacted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

EARTH_RADIUS_M = 6_371_008.8
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", "5000"
# A server bound to every interface is reached on loopback.
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}
FIX_EVERY_S = 10
BATCH = 6  # a phone batching a minute of fixes
REFUSED = {
    "future": "dated ahead of the server's clock",
    "stale": "older than the server accepts",
    "inaccurate": "less accurate than the server accepts",
    "mocked": "flagged by the OS as mocked",
    "out_of_order": "dated before the last fix the server accepted (this walk replays the minutes up to now, "
                    "and an earlier walk ended later than they start)",
    "impossible_speed": "a jump faster than anyone moves from the fix before",
}


def default_url(environ: Mapping[str, str]) -> str:
    """The server `make run` serves with the same HOST and PORT (environment variables)."""
    host = environ.get("HOST", DEFAULT_HOST).strip()
    host = DEFAULT_HOST if host in _ANY_ADDRESS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{environ.get('PORT', DEFAULT_PORT).strip() or DEFAULT_PORT}"


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
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        sys.exit(f"no server answers at {base} ({reason}): start one with `make run`, and give this script the "
                 f"same address (--url, or HOST and PORT as given to make run)")


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + math.degrees(north_m / EARTH_RADIUS_M),
            lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))))


def walk(lat: float, lon: float, minutes_inside: float) -> list[tuple[float, float, float, float]]:
    """(seconds from the start, lat, lon, accuracy): 150 m west of the store to its centre at walking
    pace, a stay inside, then 150 m east again. One fix every 10 s."""
    fixes, t = [], 0.0
    for east in range(-150, 1, 15):  # 1.5 m/s
        fixes.append((t, *offset(lat, lon, 0, east), 8.0))
        t += FIX_EVERY_S
    stay_until = t + minutes_inside * 60
    while t < stay_until:
        fixes.append((t, *offset(lat, lon, 3 * math.sin(t), 3 * math.cos(t)), 6.0))  # GPS jitter indoors
        t += FIX_EVERY_S
    for east in range(15, 151, 15):
        fixes.append((t, *offset(lat, lon, 0, east), 8.0))
        t += FIX_EVERY_S
    return fixes


def when(value: str | dt.datetime | None) -> str:
    moment = parse_time(value) if isinstance(value, str) else value
    return "?" if moment is None else moment.astimezone(dt.UTC).strftime("%H:%M:%S UTC")


def parse_time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def why_no_entry(presences: list[dict[str, Any]], *, entry_at: dt.datetime, start: dt.datetime,
                 store: str) -> list[str]:
    """Why the walk's entry was not reported, from the presence the server kept for the store's fences."""
    reasons = []
    for presence in presences:
        cooldown_until = parse_time(presence.get("cooldown_until"))
        if presence.get("inside"):
            reasons.append(f"the server already has the shopper inside {store} (since "
                           f"{when(presence.get('entered_at'))}, last seen {when(presence.get('last_seen_at'))}): "
                           "there is no new entry before an exit, and fixes older than the last one seen change "
                           "nothing")
        elif cooldown_until is not None and entry_at < cooldown_until:
            exited_at = parse_time(presence.get("exited_at"))
            minutes = round((cooldown_until - exited_at).total_seconds() / 60) if exited_at else None
            window = f"within {minutes} minutes of" if minutes else "soon after"
            rerun = dt.datetime.now(dt.UTC) + (cooldown_until - entry_at)
            reasons.append(f"the shopper left {store} at {when(exited_at)} (an earlier walk), and re-entering "
                           f"{window} an exit is ignored (pacing along the shop front issues nothing); this walk, "
                           f"dated from {when(start)}, enters at {when(entry_at)}, before {when(cooldown_until)}: "
                           f"run it again after {when(rerun)}")
    return reasons


def why_no_coupon(trigger: str, held: list[dict[str, Any]], brand_id: str, before: dt.datetime) -> str:
    """Why entering or dwelling issued nothing, from the coupons the shopper already received of the brand."""
    earlier = [c for c in held if c["brand"]["id"] == brand_id and parse_time(c["issued_at"]) < before]
    if not earlier:
        return ("none received from this brand before either: no offer of the store was live for this shopper "
                f"on {trigger} (schedule, audience, daily or global budget)")
    listed = "; ".join(f"{c['title']!r} ({c['status']}, received {when(c['issued_at'])})" for c in earlier[:3])
    return (f"the shopper already received {listed}: an offer limits how many coupons one shopper gets and how "
            "often (per-shopper cap, cooldown)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", "--base-url", dest="url", default=None,
                        help=f"the server (default: http://$HOST:$PORT, else {default_url({})})")
    parser.add_argument("--email", default="shopper@demo.wallet")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--store", default="Lumière Châtelet", help="a store of the demo catalogue")
    parser.add_argument("--device-token", default="demo-phone-push-token",
                        help="the push token registered for this walk's phone")
    parser.add_argument("--minutes-inside", type=float, default=5.5,
                        help="at most 6.5: the whole walk must fit in the server's 10-minute freshness window")
    args = parser.parse_args()
    base = (args.url or default_url(os.environ)).rstrip("/")
    if not urllib.parse.urlsplit(base).scheme:
        base = "http://" + base

    token = call(base, "POST", "/v1/auth/shoppers/sign-in", {"email": args.email, "password": args.password})[
        "access_token"]
    call(base, "PATCH", "/v1/me", {"consents": {"location": True}}, token)
    # As the app does at start-up: register this phone for pushes (the server's `log` provider prints
    # each push it would send to FCM; `make run` runs the dispatcher in the server process).
    call(base, "POST", "/v1/me/devices", {"token": args.device_token, "platform": "android",
                                          "app_version": "1.0.0", "locale": "fr-FR"}, token)
    store = brand_id = None
    for brand in call(base, "GET", "/v1/catalogue/brands?page_size=100"):
        for candidate in call(base, "GET", f"/v1/catalogue/brands/{brand['id']}/stores?page_size=100"):
            if candidate["name"] == args.store:
                store, brand_id = candidate, brand["id"]
    if store is None:
        sys.exit(f"no store named {args.store!r} in the catalogue")
    lon, lat = store["location"]["coordinates"]
    print(f"walking past and into {store['name']} ({lat:.5f}, {lon:.5f}) on {base}")
    # The store's fences are those whose region contains its centre; what the server keeps of the
    # shopper there (inside, last exit, re-entry cooldown) is in the shopper's own export.
    regions = call(base, "GET", f"/v1/me/geofences/nearby?lat={lat}&lon={lon}", token=token)["regions"]
    fences = {region["geofence_id"] for region in regions if region["distance_m"] <= 0}
    presences = [row for row in call(base, "GET", "/v1/me/export", token=token)["presence"]
                 if row["geofence_id"] in fences]

    fixes = walk(lat, lon, args.minutes_inside)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=fixes[-1][0] + 5)
    events: list[str] = []
    issued: list[dict[str, Any]] = []
    # When the walk reaches the store's centre: its entry, give or take the fence's size.
    arrival = start + dt.timedelta(seconds=next(t for t, la, lo, _ in fixes if (la, lo) == (lat, lon)))
    answer: dict[str, Any] = {}
    for first in range(0, len(fixes), BATCH):
        batch = [
            {"lat": la, "lon": lo, "accuracy_m": acc, "recorded_at": (start + dt.timedelta(seconds=t)).isoformat()}
            for t, la, lo, acc in fixes[first:first + BATCH]
        ]
        answer = call(base, "POST", "/v1/me/locations", {"fixes": batch}, token)
        refused = {reason: n for reason, n in answer["rejected"].items() if n}
        clock = f"+{fixes[first][0] / 60:4.1f} min"
        for event in answer["events"]:
            events.append(event["type"])
            print(f"{clock}  {event['type'].upper():5}  geofence {event['geofence_id']}")
        for coupon in answer["coupons"]:
            issued.append(coupon)
            print(f"{clock}  COUPON {coupon['title']!r} ({coupon['trigger']}), expires {when(coupon['expires_at'])}")
        for reason, n in refused.items():
            print(f"{clock}  {n} fix(es) refused ({reason}): {REFUSED.get(reason, 'see the API docs')}")

    monitor = answer.get("monitor")
    watched = (f"the phone now monitors {len(monitor['regions'])} region(s) and re-syncs beyond "
               f"{monitor['resync']['radius_m']:.0f} m") if monitor else "no fix accepted in the last batch"
    print(f"done: {len(issued)} coupon(s); {watched}")
    if "enter" not in events:
        reasons = why_no_entry(presences, entry_at=arrival, start=start, store=store["name"])
        for reason in reasons or ["no fix came clearly inside the store's fence (inside by more than its "
                                  "accuracy), or every such fix was refused (see above)"]:
            print(f"why no entry: {reason}")
    held = call(base, "GET", "/v1/me/coupons?page_size=100", token=token)
    for trigger in ("enter", "dwell"):
        if trigger in events and not any(c["trigger"] == trigger for c in issued):
            print(f"why no coupon on {trigger}: {why_no_coupon(trigger, held, brand_id, before=start)}")
    if issued:
        pushes = {row["coupon_id"]: row for row in call(base, "GET", "/v1/me/export", token=token)["pushes"]}
        for coupon in issued:
            push = pushes.get(coupon["id"])
            if push is None:
                state = "no push"
            elif push["status"] == "suppressed":
                state = f"held back ({push['reason']})"
            else:
                state = push["status"] + (" (the dispatcher sends it shortly)" if push["status"] == "pending" else "")
            notification = push["id"] if push else "-"
            print(f"push for {coupon['title']!r}: {state}; notification {notification}")
    print(f"GET /v1/me/coupons: {len(held)} coupon(s) in the wallet")


if __name__ == "__main__":
    main()
