"""Committed offsets of the embedded broker's groups: the offset half of ``GroupCoordinator``.

How it works: ``GroupOffsets`` is the base class of ``kafkakit.broker.groups.GroupCoordinator``
holding OffsetCommit, TxnOffsetCommit's checks and storage, OffsetFetch, OffsetDelete and offset
retention. It works on the coordinator's ``groups`` and ``OffsetsStore``; every change is written
through the store and awaited (``store.flush``) before the caller answers.

What it must never do: answer a commit before the offsets reached the OS, delete the offsets of a
topic a live member is subscribed to, or let a storage error escape as anything but an error code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kafkakit.broker.group_model import (
    DEAD,
    EMPTY,
    GROUP_ID_NOT_FOUND,
    GROUP_SUBSCRIBED_TO_TOPIC,
    ILLEGAL_GENERATION,
    INVALID_GROUP_ID,
    NON_EMPTY_GROUP,
    NONE,
    NOT_COORDINATOR,
    OFFSET_METADATA_MAX_BYTES,
    OFFSET_METADATA_TOO_LARGE,
    OFFSETS_RETENTION_CHECK_INTERVAL_MS,
    PREPARING_REBALANCE,
    STABLE,
    ClassicGroup,
    Member,
    now_ms,
)
from kafkakit.broker.offsets_store import CommittedOffset, OffsetsStore, OffsetsStoreError

log = logging.getLogger("kafkakit.broker.groups")

__all__ = ["GroupOffsets"]


class GroupOffsets:
    """Offset commits, fetches, deletes and retention of the group coordinator (see module docstring)."""

    groups: dict[str, ClassicGroup]
    store: OffsetsStore
    state: Any

    if TYPE_CHECKING:  # provided by GroupCoordinator

        def _cfg(self, name: str, default: int) -> int: ...

        def _reschedule_heartbeat(
            self, group: ClassicGroup, member: Member, timeout_ms: int | None = None
        ) -> None: ...

        def _drop_group(self, group: ClassicGroup) -> None: ...

    # ------------------------------------------------------------ offsets

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        instance_id: str | None,
        generation_id: int,
        version: int,
        items: list[tuple[str, int, int, int, str | None]],
        retention_time_ms: int = -1,
    ) -> tuple[int, list[int]]:
        """Commit (topic, partition, offset, leader epoch, metadata) items; returns a group-level
        error (then nothing was committed) and one error code per item."""
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return (GROUP_ID_NOT_FOUND if version >= 9 else ILLEGAL_GENERATION), []
            group = self.groups[group_id] = ClassicGroup(group_id)
        else:
            error = group.validate_offset_commit(member_id, instance_id, generation_id)
            if error:
                return error, []
            member = group.members.get(member_id)
            if member is not None and group.state in (STABLE, PREPARING_REBALANCE):
                self._reschedule_heartbeat(group, member)
        now = now_ms()
        expire = now + retention_time_ms if retention_time_ms >= 0 else -1
        max_md = self._cfg("offset_metadata_max_bytes", OFFSET_METADATA_MAX_BYTES)
        errors: list[int] = []
        good: list[tuple[str, int, CommittedOffset]] = []
        for topic, partition, offset, epoch, metadata in items:
            if metadata is not None and len(metadata) > max_md:
                errors.append(OFFSET_METADATA_TOO_LARGE)
            else:
                errors.append(NONE)
                good.append((topic, partition, CommittedOffset(offset, epoch, metadata or "", now, expire)))
        try:
            self.store.commit(group_id, good)
            await self.store.flush()
        except (OSError, OffsetsStoreError) as exc:
            log.error("group %s: cannot store committed offsets: %s", group_id, exc)
            return NOT_COORDINATOR, []
        return NONE, errors

    def validate_txn_offset_commit(
        self, group_id: str, member_id: str, instance_id: str | None, generation_id: int
    ) -> int:
        """TxnOffsetCommit's group checks (for the transaction coordinator): NONE when the
        transaction may hold offsets for the group. An unknown group with generation -1 is created
        as a simple group, as Kafka does."""
        if not group_id:
            return INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return ILLEGAL_GENERATION
            group = self.groups[group_id] = ClassicGroup(group_id)
        return group.validate_offset_commit(member_id, instance_id, generation_id, transactional=True)

    async def commit_txn_offsets(self, group_id: str, items: list[tuple[str, int, CommittedOffset]]) -> bool:
        """Store a committed transaction's offsets for the group (EndTxn commit); False when they
        could not be stored."""
        if group_id not in self.groups:
            self.groups[group_id] = ClassicGroup(group_id)
        try:
            self.store.commit(group_id, items)
            await self.store.flush()
        except (OSError, OffsetsStoreError) as exc:
            log.error("group %s: cannot store transactional offsets: %s", group_id, exc)
            return False
        return True

    def fetch_offsets(
        self, group_id: str, topics: list[tuple[str, list[int]]] | None
    ) -> list[tuple[str, list[tuple[int, int, int, str]]]]:
        """Committed (partition, offset, leader epoch, metadata) by topic; -1/-1/"" when none.
        ``topics`` None means every partition the group has offsets for."""
        group = self.groups.get(group_id)
        known = group is not None and group.state != DEAD
        offsets = self.store.offsets(group_id) if known else {}
        if topics is None:
            by_topic: dict[str, list[tuple[int, int, int, str]]] = {}
            for (topic, partition), c in sorted(offsets.items()):
                by_topic.setdefault(topic, []).append((partition, c.offset, c.leader_epoch, c.metadata))
            return list(by_topic.items())
        out: list[tuple[str, list[tuple[int, int, int, str]]]] = []
        for topic, partitions in topics:
            rows = []
            for p in partitions:
                got = offsets.get((topic, p))
                rows.append(
                    (p, got.offset, got.leader_epoch, got.metadata) if got is not None else (p, -1, -1, "")
                )
            out.append((topic, rows))
        return out

    async def delete_offsets(
        self, group_id: str, topics: list[tuple[str, list[int]]]
    ) -> tuple[int, list[tuple[str, list[tuple[int, int]]]]]:
        """OffsetDelete: a group-level error, else (partition, error) by topic."""
        if not group_id:
            return INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None or group.state == DEAD:
            return GROUP_ID_NOT_FOUND, []
        if group.state != EMPTY and not group.uses_consumer_protocol():
            return NON_EMPTY_GROUP, []
        out: list[tuple[str, list[tuple[int, int]]]] = []
        doomed: list[tuple[str, int]] = []
        for topic, partitions in topics:
            if group.is_subscribed_to(topic):
                out.append((topic, [(p, GROUP_SUBSCRIBED_TO_TOPIC) for p in partitions]))
            else:
                out.append((topic, [(p, NONE) for p in partitions]))
                doomed.extend((topic, p) for p in partitions)
        try:
            self.store.delete_offsets(group_id, doomed)
            await self.store.flush()
        except (OSError, OffsetsStoreError) as exc:
            log.error("group %s: cannot delete offsets: %s", group_id, exc)
            return NOT_COORDINATOR, []
        return NONE, out

    # ------------------------------------------------------------ retention

    async def _cleanup_loop(self) -> None:
        interval = (
            self._cfg("offsets_retention_check_interval_ms", OFFSETS_RETENTION_CHECK_INTERVAL_MS) / 1000
        )
        while True:
            await asyncio.sleep(max(interval, 0.01))
            try:
                self.expire_offsets()
                await self.store.flush()
            except Exception:  # noqa: BLE001 - retention must never stop the coordinator
                log.exception("removing expired offsets failed")

    def on_topics_deleted(self, topics: list[str]) -> int:
        """Forget every group's offsets of deleted topics (as Kafka does when a topic goes);
        returns how many offsets went. Best effort: a storage error is logged."""
        gone = set(topics)
        removed = 0
        for gid in self.store.group_ids():
            doomed = [tp for tp in self.store.offsets(gid) if tp[0] in gone]
            if doomed:
                try:
                    removed += self.store.delete_offsets(gid, doomed)
                except (OSError, OffsetsStoreError) as exc:
                    log.error("group %s: cannot drop offsets of deleted topics: %s", gid, exc)
        return removed

    def expire_offsets(self, now: int | None = None) -> int:
        """Drop offsets past retention (``ClassicGroup.expired_offsets``) or of topics that no
        longer exist, and empty groups left without offsets; returns how many offsets went."""
        now = now_ms() if now is None else now
        retention = self._cfg("offsets_retention_minutes", 10_080) * 60_000
        topics = getattr(self.state, "topics", None)
        removed = 0
        for gid, group in list(self.groups.items()):
            offsets = self.store.offsets(gid)
            expired = group.expired_offsets(offsets, now, retention)
            if topics is not None:
                expired += [tp for tp in offsets if tp not in expired and not topics.exists(tp[0])]
            if expired:
                removed += self.store.delete_offsets(gid, expired)
                log.info("group %s: %d committed offsets expired", gid, len(expired))
            if group.state == EMPTY and not group.pending_join and not self.store.has_offsets(gid):
                self.store.delete_group(gid)
                self._drop_group(group)
        return removed
