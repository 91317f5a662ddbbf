"""The list of error reasons the API answers with, read from the code (for docs/errors.md): every
``WalletError`` subclass's ``reason``, every ``reason=`` given where one is raised, the reasons built
at run time that their class declares in ``REASONS``, and those of the HTTP layer (``HTTP_REASONS``)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path

import wallet
from wallet.core.errors import HTTP_REASONS, WalletError

PACKAGE_DIR = Path(wallet.__file__).resolve().parent
DOC_PATH = PACKAGE_DIR.parent / "docs" / "errors.md"


@dataclass(frozen=True, order=True)
class Reason:
    status: int
    reason: str
    meaning: str


def _error_classes() -> dict[str, type[WalletError]]:
    for module in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="wallet."):
        importlib.import_module(module.name)
    found: dict[str, type[WalletError]] = {}
    pending = [WalletError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _text(node: ast.expr | None) -> str:
    """A message as a reader sees it: literal text, with the values filled in at run time as '…'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "…" for part in node.values)
    return ""


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        return node.func.value.id  # ValidationFailed.on(...)
    return None


def collect_reasons() -> list[Reason]:
    """Each (reason, status) once; its meaning from, first, ``HTTP_REASONS`` and the classes' ``REASONS``,
    then the docstring of the class that names it, then the message of a place that raises it."""
    classes = _error_classes()
    meanings: dict[tuple[str, int], list[tuple[int, str]]] = {}

    def add(reason: str, status: int, meaning: str, rank: int) -> None:
        meanings.setdefault((reason, status), [])
        if meaning.strip():
            text = meaning.strip()
            meanings[(reason, status)].append((rank, text if text.endswith((".", "…")) else text + "."))

    for reason, (status, meaning) in HTTP_REASONS.items():
        add(reason, status, meaning, 0)
    for cls in classes.values():
        for reason, meaning in vars(cls).get("REASONS", {}).items():
            add(reason, cls.status, meaning, 1)
        if "reason" in vars(cls) and cls is not WalletError:
            add(cls.reason, cls.status, (cls.__doc__ or "").strip().split("\n")[0], 2)
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for reason, status, message in raise_sites(path.read_text(), classes):
            add(reason, status, message, 3)
    return sorted(Reason(status, reason, min(found)[1] if found else _humanised(reason))
                  for (reason, status), found in meanings.items())


def raise_sites(source: str, classes: dict[str, type[WalletError]]) -> list[tuple[str, int, str]]:
    """(reason, status, message) of each error of ``classes`` made in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _callee(node) not in classes:
            continue
        cls = classes[_callee(node)]  # type: ignore[index]
        message = _text(node.args[0]) if node.args and not isinstance(node.func, ast.Attribute) else ""
        given = next((kw.value for kw in node.keywords if kw.arg == "reason"), None)
        if isinstance(given, ast.Constant) and isinstance(given.value, str):
            found.append((given.value, cls.status, message))
        elif given is None and not getattr(cls, "REASONS", None):
            found.append((cls.reason, cls.status, message))
        elif given is not None and not getattr(cls, "REASONS", None):
            # A reason computed at run time can only be listed if its class declares the ones it takes.
            raise ValueError(f"line {node.lineno}: {cls.__name__} is raised with a reason computed at run time; "
                             f"raise a class that lists its reasons in REASONS")
    return found


def error_classes() -> dict[str, type[WalletError]]:
    return _error_classes()


def _humanised(reason: str) -> str:
    return reason.replace("_", " ").capitalize() + "."


def errors_document() -> str:
    """docs/errors.md as generated: the reasons by status, then name."""
    lines = [
        "# Error reasons",
        "",
        "Every refusal is answered in one JSON format, `{code, status, reason, message, errors}`.",
        "`reason` is a stable word a client can branch on; `message` is for people and may change.",
        "This table is generated from the code by `wallet export-errors` (a test fails when it is out of date).",
        "",
        "| reason | status | meaning |",
        "| --- | --- | --- |",
    ]
    for item in collect_reasons():
        meaning = re.sub(r"\s+", " ", item.meaning).replace("|", "\\|")
        lines.append(f"| `{item.reason}` | {item.status} | {meaning} |")
    return "\n".join(lines) + "\n"
