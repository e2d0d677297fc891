"""kafkakit's embedded Kafka-compatible broker (one node, storage on local disk).

``Broker`` runs it inside this process on a background thread (``with Broker() as b:
b.bootstrap_servers``); ``kafkakit broker`` / ``python -m kafkakit.broker`` run it in the
foreground; ``BrokerConfig`` holds its settings. See ``server.py`` for how requests are served.

What it must never do: import the client, or start anything at import time.
"""

from __future__ import annotations

from kafkakit.broker.app import Broker
from kafkakit.broker.state import BrokerConfig

__all__ = ["Broker", "BrokerConfig"]
