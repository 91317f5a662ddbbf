"""Racing requests for the concurrency tests: many threads, each with its own app context and
client, released at once by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from wallet.extensions import db

RACERS = 50


def race(app: Flask, request: Callable[[Any, int], Any], how_many: int = RACERS) -> list[tuple[int, dict[str, Any], bool]]:
    """Send ``how_many`` requests at once (``request(client, index)``); (status, body, replayed) of each,
    ``replayed`` from the ``Idempotent-Replayed`` header."""
    barrier = threading.Barrier(how_many)
    results: list[tuple[int, dict[str, Any], bool]] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait(timeout=30)
                response = request(client, index)
                results.append((response.status_code, response.get_json(),
                                response.headers.get("Idempotent-Replayed") == "true"))
                db.session.remove()
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(how_many)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing request never finished"
    assert errors == []
    assert len(results) == how_many
    return results
