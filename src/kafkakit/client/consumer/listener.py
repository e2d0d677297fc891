"""ConsumerRebalanceListener: user callbacks around group rebalances (kafka-python's interface).

How it works: pass an instance to ``KafkaConsumer.subscribe(listener=...)``. The consumer calls
``on_partitions_revoked`` before it gives partitions up (eager protocols: every partition before each
rejoin; cooperative: only those moving away), ``on_partitions_assigned`` once a new assignment is in
(cooperative: only the newly added partitions), and ``on_partitions_lost`` when the member was
removed from the group (session timeout, poll interval exceeded, fenced) so its partitions may
already belong to someone else; by default that delegates to ``on_partitions_revoked``. The sync
``KafkaConsumer`` runs every callback on the consumer's own thread, inside ``poll()`` (or the
iterator, or ``close()``/``unsubscribe()``), while heartbeats continue in the background.

What it must never do: run a callback on another thread than the consumer's, or swallow an
exception a callback raised (it reaches the caller of poll(), after the rebalance step completes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Set

from kafkakit.structs import TopicPartition

__all__ = ["ConsumerRebalanceListener"]


class ConsumerRebalanceListener(ABC):
    """Implement ``on_partitions_revoked`` and ``on_partitions_assigned`` (and optionally
    ``on_partitions_lost``) to act when the consumer's partitions change."""

    @abstractmethod
    def on_partitions_revoked(self, revoked: Set[TopicPartition]) -> None:
        """Partitions are about to be given up; commit offsets or flush state for them here."""

    @abstractmethod
    def on_partitions_assigned(self, assigned: Set[TopicPartition]) -> None:
        """Partitions were assigned; seek or load state for them here."""

    def on_partitions_lost(self, lost: Set[TopicPartition]) -> None:
        """The member left the group involuntarily; these partitions may already be owned by another
        member, so committing offsets for them will fail. Defaults to ``on_partitions_revoked``."""
        self.on_partitions_revoked(lost)
