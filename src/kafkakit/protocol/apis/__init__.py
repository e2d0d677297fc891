"""The registry of every Kafka API kafkakit speaks: ``API_BY_KEY`` and ``API_BY_NAME``.

Each module of this package declares its APIs in the notation of docs/schema-dsl.md and lists
them in ``APIS``. Modules not written yet are skipped so the codec stays importable.
"""

from __future__ import annotations

import importlib

from kafkakit.protocol.schema import Api

API_BY_KEY: dict[int, Api] = {}
API_BY_NAME: dict[str, Api] = {}

for _mod in ("core", "data", "groups", "admin", "txn"):
    try:
        _m = importlib.import_module(f"kafkakit.protocol.apis.{_mod}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while modules are being written
        if _exc.name != f"kafkakit.protocol.apis.{_mod}":
            raise
        continue
    for _api in _m.APIS:
        API_BY_KEY[_api.key] = _api
        API_BY_NAME[_api.name] = _api


def api(name_or_key: str | int) -> Api:
    """Look an API up by name ("Produce") or key (0)."""
    table = API_BY_NAME if isinstance(name_or_key, str) else API_BY_KEY
    try:
        return table[name_or_key]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"unknown Kafka API {name_or_key!r}") from None
