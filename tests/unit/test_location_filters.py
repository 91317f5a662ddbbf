"""Which fixes may move presence, and why the others are refused."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.geo.geometry import distance_m
from wallet.locations import filters
from wallet.locations.filters import Fix, Limits, screen

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
LIMITS = Limits(max_age=dt.timedelta(minutes=10), max_future=dt.timedelta(seconds=30), max_accuracy_m=100,
                max_speed_mps=70)


def fix(seconds_ago: float = 0, lat: float = 48.8575, lon: float = 2.3510, accuracy: float = 10, **extra) -> Fix:
    return Fix(lat=lat, lon=lon, accuracy_m=accuracy, recorded_at=NOW - dt.timedelta(seconds=seconds_ago), **extra)


def test_good_fixes_are_accepted_in_time_order():
    result = screen([fix(5), fix(30), fix(10)], previous=None, now=NOW, limits=LIMITS)
    assert [f.recorded_at for f in result.accepted] == sorted(f.recorded_at for f in result.accepted)
    assert not result.rejected


def test_each_kind_of_bad_fix_is_refused_and_counted():
    fixes = [fix(-60), fix(11 * 60), fix(accuracy=150), fix(mocked=True), fix(1)]
    result = screen(fixes, previous=None, now=NOW, limits=LIMITS)
    assert len(result.accepted) == 1
    assert result.rejected == {"future": 1, "stale": 1, "inaccurate": 1, "mocked": 1}


def test_a_jump_faster_than_a_car_is_refused_but_a_walk_is_not():
    walk = [fix(20), fix(10, lat=48.8576)]  # ~11 m in 10 s
    assert len(screen(walk, previous=None, now=NOW, limits=LIMITS).accepted) == 2
    jump = [fix(20), fix(10, lat=48.8675)]  # ~1.1 km in 10 s
    result = screen(jump, previous=None, now=NOW, limits=LIMITS)
    assert len(result.accepted) == 1 and result.rejected == {"impossible_speed": 1}


def test_the_speed_check_uses_the_previous_requests_last_fix_and_allows_for_accuracy():
    previous = fix(60, lat=48.8475)  # ~1.1 km south, a minute ago: 18 m/s, a car
    assert screen([fix(0)], previous=previous, now=NOW, limits=LIMITS).accepted
    teleport = fix(2, lat=48.8475)
    assert screen([fix(0)], previous=teleport, now=NOW, limits=LIMITS).rejected == {"impossible_speed": 1}
    noisy = fix(1, lat=48.8570, accuracy=60)  # 55 m away a second ago, but 60 m accurate
    assert screen([fix(0, accuracy=20)], previous=noisy, now=NOW, limits=LIMITS).accepted


@settings(max_examples=500, deadline=None)
@given(lat1=st.floats(-90, 90), lon1=st.floats(-180, 180), north=st.floats(-2, 2), east=st.floats(-2, 2),
       seconds=st.floats(0, 600), acc1=st.floats(1, 100), acc2=st.floats(1, 100))
def test_the_speed_check_shortcut_decides_as_the_haversine_does(lat1, lon1, north, east, seconds, acc1, acc2):
    lat2, lon2 = min(max(lat1 + north, -90), 90), min(max(lon1 + east, -180), 180)
    last = Fix(lat=lat1, lon=lon1, accuracy_m=acc1, recorded_at=NOW)
    now = Fix(lat=lat2, lon=lon2, accuracy_m=acc2, recorded_at=NOW + dt.timedelta(seconds=seconds))
    moved = distance_m(lat1, lon1, lat2, lon2) - acc1 - acc2
    expected = moved > 0 and moved / max(seconds, 1.0) > LIMITS.max_speed_mps
    assert filters._too_fast(last, now, LIMITS.max_speed_mps) == expected


CHATELET, BASTILLE, MONTMARTRE, TOKYO = (48.8584, 2.3470), (48.8532, 2.3692), (48.8867, 2.3431), (35.6812, 139.7671)


def test_a_fix_older_than_the_last_accepted_one_is_refused_as_out_of_order_whatever_its_place():
    last = fix(0, *CHATELET)
    for seconds_ago, (lat, lon) in ((2, BASTILLE), (4, MONTMARTRE), (5, TOKYO), (1, CHATELET)):
        result = screen([fix(seconds_ago, lat, lon)], previous=last, now=NOW, limits=LIMITS)
        assert result.accepted == [] and result.rejected == {"out_of_order": 1}


def test_a_batch_is_screened_in_time_order_against_the_last_accepted_fix():
    previous = fix(10, *CHATELET)
    batch = [fix(0, lat=CHATELET[0] + 0.0001, lon=CHATELET[1]), fix(12, *BASTILLE), fix(5, *CHATELET),
             fix(20, *TOKYO), fix(3, *MONTMARTRE)]
    result = screen(batch, previous=previous, now=NOW, limits=LIMITS)
    assert [f.recorded_at for f in result.accepted] == [NOW - dt.timedelta(seconds=5), NOW]
    assert result.rejected == {"out_of_order": 2, "impossible_speed": 1}


def test_a_fix_at_the_same_instant_as_the_last_one_is_checked_for_speed_not_refused_as_out_of_order():
    last = fix(0, *CHATELET)
    assert screen([fix(0, *CHATELET)], previous=last, now=NOW, limits=LIMITS).accepted
    assert screen([fix(0, *BASTILLE)], previous=last, now=NOW, limits=LIMITS).rejected == {"impossible_speed": 1}


def test_every_reason_a_fix_is_refused_for_is_listed():
    assert set(filters.REASONS) == {"future", "stale", "inaccurate", "mocked", "out_of_order", "impossible_speed"}
