"""The secret a local server (``make run``) signs with: random, made once into a file only its owner
can read, so that no server ever signs with a value published anywhere.

``python -m wallet.local_secret instance/secret_key`` prints the secret, creating the file first if
it does not exist; the Makefile passes it on as ``WALLET_SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

SECRET_BYTES = 48  # 64 URL-safe characters, well above the 32 the configuration demands


def local_secret(path: Path) -> str:
    """The secret stored at ``path``, made (random, mode 0600) if the file does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two `make run` starting at once cannot each write a different secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:  # copied or restored with looser permissions
        path.chmod(0o600)
    secret = path.read_text().strip()
    if not secret:
        raise ValueError(f"{path} is empty: delete it and a new secret will be made")
    return secret


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m wallet.local_secret PATH", file=sys.stderr)
        return 2
    try:
        print(local_secret(Path(argv[0])))
    except (OSError, ValueError) as error:
        print(f"wallet.local_secret: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
