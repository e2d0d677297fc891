"""The embedded broker's transaction coordinator (Kafka's transaction protocol v1, KIP-98/360/588).

How it works: ``TransactionCoordinator`` keeps one ``TxnMetadata`` per transactional id: the
producer id and epoch it owns, the state (Empty, Ongoing, PrepareCommit, PrepareAbort,
CompleteCommit, CompleteAbort), the partitions and consumer groups of the open transaction, the
offsets its TxnOffsetCommit requests sent, its timeout. Every transition is written to the
transaction log (``kafkakit.broker.txn_log``) before memory changes and before the client is
answered. Everything runs on the broker's event loop; a transition is decided and written without
awaiting in between, so requests never see half a change.

InitProducerId allocates a producer id for a new transactional id and bumps the epoch of a known
one (fencing the previous producer; a new id when the epoch is exhausted, KIP-360 checks of the
expected id/epoch). When the previous producer left a transaction open, it is aborted first under
a bumped epoch, exactly as a timeout does. EndTxn moves Ongoing to PrepareCommit/PrepareAbort
(written: from then on the outcome is decided), then writes a COMMIT/ABORT control batch to every
partition of the transaction (``PartitionLog.append(..., allow_control=True)``), materialises the
pending offsets in the group coordinator's store on commit (drops them on abort), and writes
Complete*. A marker that cannot be written leaves the transaction in Prepare* (clients get
CONCURRENT_TRANSACTIONS) and is retried by the periodic task, which also aborts Ongoing
transactions older than their timeout (bumping the epoch: the producer is fenced) and forgets
transactional ids idle for ``transactional_id_expiration_ms``.

At startup the log is replayed; transactions found in Prepare* are completed, and every partition
is checked for a transaction left open by a producer the coordinator does not (or no longer)
count in an Ongoing transaction for that partition: it is aborted with a marker, so no partition's
last stable offset can stay stuck. Produce verifies transactional batches against
``verify_partition`` (KIP-890 part 1): the partition must be in the producer's Ongoing
transaction at the producer's current epoch.

What it must never do: answer before the transition is written, let a fenced epoch or another
producer id change a transaction, complete a transaction whose outcome was not written first,
apply offsets of an aborted transaction, or leave a partition with an open transaction nobody
will end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from kafkakit.broker.offsets_store import CommittedOffset
from kafkakit.broker.state import now_ms
from kafkakit.broker.txn_log import (
    COMPLETE_ABORT,
    COMPLETE_COMMIT,
    EMPTY,
    ONGOING,
    PREPARE_ABORT,
    PREPARE_COMMIT,
    TXN_LOG_FILE,
    TxnLog,
    TxnLogError,
    TxnMetadata,
)
from kafkakit.errors import BrokerResponseError
from kafkakit.record import encode_control_batch

log = logging.getLogger("kafkakit.broker.txn")

__all__ = ["TransactionCoordinator", "TxnMetadata"]

NONE = 0
UNKNOWN_SERVER_ERROR = -1
COORDINATOR_NOT_AVAILABLE = 15
INVALID_REQUEST = 42
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
OFFSET_METADATA_TOO_LARGE = 12
PRODUCER_FENCED = 90
TRANSACTION_ABORTABLE = 120

#: an epoch at or above this cannot be bumped again: the next InitProducerId issues a new id
EPOCH_EXHAUSTED = 32766
OFFSET_METADATA_MAX_BYTES = 4096

TopicPartition = tuple[str, int]


class TransactionCoordinator:
    """Every transactional id of the broker (see the module docstring)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.txns: dict[str, TxnMetadata] = {}
        self._log: TxnLog | None = None
        self._task: asyncio.Task[None] | None = None
        #: transactional ids whose markers are being written right now
        self._finishing: set[str] = set()
        #: partitions already given their marker, per transactional id being finished
        self._marked: dict[str, set[TopicPartition]] = {}

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Replay the transaction log, finish in-doubt transactions, abort orphaned ones, start
        the periodic task."""
        cfg = self.state.config
        self._log = TxnLog(
            self.state.data_dir / TXN_LOG_FILE, fsync=cfg.fsync, committer=self.state.committer
        )
        self.txns = await asyncio.get_running_loop().run_in_executor(None, self._log.load)
        for txn_id, m in list(self.txns.items()):
            if m.state in (PREPARE_COMMIT, PREPARE_ABORT):
                log.info("transaction %r was in %s at shutdown: completing it", txn_id, m.state)
                await self._finish(txn_id)
        await self._abort_orphans()
        self._task = asyncio.get_running_loop().create_task(self._periodic())
        log.info("transaction coordinator loaded %d transactional ids", len(self.txns))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._log is not None:
            self._log.close()

    # ------------------------------------------------------------ InitProducerId

    async def init_producer_id(
        self, txn_id: str, timeout_ms: int, expected: tuple[int, int] | None
    ) -> tuple[int, int, int]:
        """(error, producer id, epoch) for InitProducerId with a transactional id. ``expected`` is
        the (producer id, epoch) a producer re-initialising itself sends (KIP-360)."""
        if not txn_id:
            return INVALID_REQUEST, -1, -1
        if not 0 < timeout_ms <= self.state.config.transaction_max_timeout_ms:
            return INVALID_TRANSACTION_TIMEOUT, -1, -1
        m = self.txns.get(txn_id)
        if m is None:
            m = TxnMetadata(txn_id, self.state.producer_ids.next_id(), -1, timeout_ms=timeout_ms)
        for _attempt in range(2):
            if txn_id in self._finishing:
                return CONCURRENT_TRANSACTIONS, -1, -1
            if expected is not None and not _valid_producer_id(m, *expected):
                return PRODUCER_FENCED, -1, -1
            if m.state in (PREPARE_COMMIT, PREPARE_ABORT):
                return CONCURRENT_TRANSACTIONS, -1, -1
            if m.state == ONGOING:
                # the previous producer left a transaction open: abort it under a bumped epoch
                # (never returned to anyone), then bump once more for this producer
                error = await self._fence_and_abort(m)
                if error:
                    return error, -1, -1
                m = self.txns[txn_id]
                if m.state != COMPLETE_ABORT:
                    return CONCURRENT_TRANSACTIONS, -1, -1
                continue
            new = self._next_epoch(m, timeout_ms, expected)
            if isinstance(new, int):
                return new, -1, -1
            error = await self._write(new)
            if error:
                return error, -1, -1
            log.info(
                "transactional id %r: producer id %d epoch %d", txn_id, new.producer_id, new.producer_epoch
            )
            return NONE, new.producer_id, new.producer_epoch
        return CONCURRENT_TRANSACTIONS, -1, -1

    def _next_epoch(
        self, m: TxnMetadata, timeout_ms: int, expected: tuple[int, int] | None
    ) -> TxnMetadata | int:
        now = now_ms()
        common = {"timeout_ms": timeout_ms, "state": EMPTY, "partitions": frozenset(), "groups": frozenset()}
        if m.producer_epoch >= EPOCH_EXHAUSTED and (expected is None or expected[1] == m.producer_epoch):
            return m.evolve(
                producer_id=self.state.producer_ids.next_id(),
                producer_epoch=0,
                last_producer_epoch=m.producer_epoch if expected is not None else -1,
                previous_producer_id=m.producer_id,
                start_ms=-1,
                update_ms=now,
                pending_offsets={},
                **common,
            )
        if expected is None:
            epoch, last = m.producer_epoch + 1, -1
        elif m.producer_epoch == -1 or expected[1] == m.producer_epoch:
            epoch, last = m.producer_epoch + 1, m.producer_epoch
        elif expected[1] == m.last_producer_epoch:
            epoch, last = m.producer_epoch, m.last_producer_epoch  # a retry of a call that succeeded
        else:
            return PRODUCER_FENCED
        return m.evolve(
            producer_epoch=epoch,
            last_producer_epoch=last,
            start_ms=-1,
            update_ms=now,
            pending_offsets={},
            **common,
        )

    # ------------------------------------------------------------ AddPartitionsToTxn / AddOffsetsToTxn

    def _check_owner(self, txn_id: str, pid: int, epoch: int) -> TxnMetadata | int:
        """The metadata when ``pid``/``epoch`` own ``txn_id`` now, else the error code."""
        if not txn_id:
            return INVALID_REQUEST
        m = self.txns.get(txn_id)
        if m is None or m.producer_id != pid:
            return INVALID_PRODUCER_ID_MAPPING
        if m.producer_epoch != epoch:
            return PRODUCER_FENCED
        if txn_id in self._finishing or m.state in (PREPARE_COMMIT, PREPARE_ABORT):
            return CONCURRENT_TRANSACTIONS
        return m

    async def add_to_txn(
        self,
        txn_id: str,
        pid: int,
        epoch: int,
        partitions: Iterable[TopicPartition] = (),
        group: str | None = None,
    ) -> int:
        """AddPartitionsToTxn (``partitions``) and AddOffsetsToTxn (``group``)."""
        m = self._check_owner(txn_id, pid, epoch)
        if isinstance(m, int):
            return m
        parts = m.partitions.union(partitions)
        groups = m.groups if group is None else m.groups | {group}
        if m.state == ONGOING and parts == m.partitions and groups == m.groups:
            return NONE
        now = now_ms()
        fresh = m.state != ONGOING
        new = m.evolve(
            state=ONGOING,
            partitions=parts,
            groups=groups,
            start_ms=now if fresh else m.start_ms,
            update_ms=now,
            pending_offsets={} if fresh else m.pending_offsets,
        )
        return await self._write(new)

    def verify_partitions(
        self, txn_id: str, pid: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int] | int:
        """AddPartitionsToTxn ``verify_only``: per-partition NONE or TRANSACTION_ABORTABLE, or one
        error for the whole transaction."""
        if not txn_id:
            return INVALID_REQUEST
        m = self.txns.get(txn_id)
        if m is None or m.producer_id != pid:
            return INVALID_PRODUCER_ID_MAPPING
        if m.producer_epoch != epoch:
            return PRODUCER_FENCED
        if m.state in (PREPARE_COMMIT, PREPARE_ABORT):
            return CONCURRENT_TRANSACTIONS
        ongoing = m.state == ONGOING
        return {tp: NONE if ongoing and tp in m.partitions else TRANSACTION_ABORTABLE for tp in partitions}

    def verify_partition(self, txn_id: str, pid: int, epoch: int, topic: str, partition: int) -> int:
        """For Produce: NONE when a transactional batch of ``pid``/``epoch`` may go to the
        partition, else the coordinator's error (the handler maps it to Produce's codes)."""
        result = self.verify_partitions(txn_id, pid, epoch, [(topic, partition)])
        return result if isinstance(result, int) else result[(topic, partition)]

    # ------------------------------------------------------------ TxnOffsetCommit

    async def txn_offset_commit(
        self,
        txn_id: str,
        group_id: str,
        pid: int,
        epoch: int,
        member: tuple[str, str | None, int],
        items: list[tuple[str, int, int, int, str | None]],
        version: int,
    ) -> tuple[int, list[int]]:
        """Add (topic, partition, offset, leader epoch, metadata) items to the open transaction's
        offsets for ``group_id``. Returns a request-level error or one code per item."""
        m = self._check_owner(txn_id, pid, epoch)
        if isinstance(m, int):
            # Kafka's partition verification reports a fenced epoch as INVALID_PRODUCER_EPOCH here
            return (INVALID_PRODUCER_EPOCH if m == PRODUCER_FENCED else m), []
        if m.state != ONGOING or group_id not in m.groups:
            return (TRANSACTION_ABORTABLE if version >= 4 else INVALID_TXN_STATE), []
        groups = self.state.groups
        if groups is None:
            return COORDINATOR_NOT_AVAILABLE, []
        member_id, instance_id, generation_id = member
        error = groups.validate_txn_offset_commit(group_id, member_id, instance_id, generation_id)
        if error:
            return error, []
        now = now_ms()
        errors: list[int] = []
        good: list[tuple[str, int, CommittedOffset]] = []
        for topic, partition, offset, leader_epoch, metadata in items:
            if metadata is not None and len(metadata) > OFFSET_METADATA_MAX_BYTES:
                errors.append(OFFSET_METADATA_TOO_LARGE)
                continue
            errors.append(NONE)
            good.append((topic, partition, CommittedOffset(offset, leader_epoch, metadata or "", now)))
        if good:
            assert self._log is not None
            try:
                self._log.write_offsets(m, group_id, good)
            except (OSError, TxnLogError) as exc:
                log.error("transaction %r: cannot write its offsets: %s", txn_id, exc)
                return COORDINATOR_NOT_AVAILABLE, []
            pending = m.pending_offsets.setdefault(group_id, {})
            for topic, partition, c in good:
                pending[(topic, partition)] = c
            if await self._flush():
                return COORDINATOR_NOT_AVAILABLE, []
        return NONE, errors

    def has_pending_offsets(self, group_id: str, topic: str, partition: int) -> bool:
        """Whether an open transaction holds an offset for the group's partition (OffsetFetch
        with require_stable answers UNSTABLE_OFFSET_COMMIT then)."""
        for m in self.txns.values():
            if m.open:
                pending = m.pending_offsets.get(group_id)
                if pending and (topic, partition) in pending:
                    return True
        return False

    # ------------------------------------------------------------ EndTxn

    async def end_txn(self, txn_id: str, pid: int, epoch: int, commit: bool) -> tuple[int, int, int]:
        """(error, producer id, epoch) for EndTxn."""
        if not txn_id:
            return INVALID_REQUEST, -1, -1
        m = self.txns.get(txn_id)
        if m is None or m.producer_id != pid:
            return INVALID_PRODUCER_ID_MAPPING, -1, -1
        if epoch != m.producer_epoch:
            return PRODUCER_FENCED, -1, -1
        if txn_id in self._finishing:
            return CONCURRENT_TRANSACTIONS, -1, -1
        if m.state == ONGOING:
            new = m.evolve(state=PREPARE_COMMIT if commit else PREPARE_ABORT, update_ms=now_ms())
            error = await self._write(new)
            if error:
                return error, -1, -1
            await self._finish(txn_id)
            return NONE, m.producer_id, m.producer_epoch
        wanted = (COMPLETE_COMMIT, PREPARE_COMMIT) if commit else (COMPLETE_ABORT, PREPARE_ABORT)
        if m.state == wanted[0]:
            return NONE, m.producer_id, m.producer_epoch  # a retry of an EndTxn that succeeded
        if m.state == wanted[1]:
            return CONCURRENT_TRANSACTIONS, -1, -1
        log.info(
            "transaction %r: EndTxn(%s) refused in state %s", txn_id, "commit" if commit else "abort", m.state
        )
        return INVALID_TXN_STATE, -1, -1

    async def _fence_and_abort(self, m: TxnMetadata) -> int:
        """Abort ``m``'s Ongoing transaction under a bumped epoch (timeout, or a new producer)."""
        epoch = m.producer_epoch + 1 if m.producer_epoch < 32767 else m.producer_epoch
        new = m.evolve(producer_epoch=epoch, last_producer_epoch=-1, state=PREPARE_ABORT, update_ms=now_ms())
        error = await self._write(new)
        if error:
            return error
        await self._finish(m.transactional_id)
        return NONE

    async def _finish(self, txn_id: str) -> bool:
        """Write the markers of a Prepare* transaction, settle its offsets and complete it.
        Returns whether it completed (else it stays in Prepare* for the periodic retry)."""
        if txn_id in self._finishing:
            return False
        self._finishing.add(txn_id)
        try:
            m = self.txns.get(txn_id)
            if m is None or m.state not in (PREPARE_COMMIT, PREPARE_ABORT):
                return True
            commit = m.state == PREPARE_COMMIT
            if not await self._write_markers(m, commit):
                return False
            if commit and not await self._apply_offsets(m):
                return False
            done = m.evolve(
                state=COMPLETE_COMMIT if commit else COMPLETE_ABORT,
                partitions=frozenset(),
                groups=frozenset(),
                update_ms=now_ms(),
                pending_offsets={},
            )
            if await self._write(done):
                return False
            self._marked.pop(txn_id, None)
            log.debug("transaction %r %s", txn_id, "committed" if commit else "aborted")
            return True
        finally:
            self._finishing.discard(txn_id)

    async def _write_markers(self, m: TxnMetadata, commit: bool) -> bool:
        marked = self._marked.setdefault(m.transactional_id, set())
        topics = self.state.topics
        written = []
        ok = True
        for tp in sorted(m.partitions - marked):
            p = topics.get_partition(*tp)
            if p is None:  # the topic was deleted: nothing left to mark
                marked.add(tp)
                continue
            batch = encode_control_batch(commit, m.producer_id, m.producer_epoch, now_ms())
            try:
                p.log.append(batch, leader_epoch=p.leader_epoch, allow_control=True)
            except (BrokerResponseError, OSError) as exc:
                log.error(
                    "transaction %r: cannot write its marker to %s-%d: %s", m.transactional_id, *tp, exc
                )
                ok = False
                continue
            marked.add(tp)
            written.append(p)
        committer = self.state.committer
        if committer is not None:
            logs = {id(p.log): p.log for p in written}
            results = await asyncio.gather(
                *(committer.sync(lg) for lg in logs.values()), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException):
                    log.error("transaction %r: fsync of a marker failed: %s", m.transactional_id, r)
                    ok = False
        for p in written:
            p.notify()  # the last stable offset moved: parked read_committed fetches may return
        return ok

    async def _apply_offsets(self, m: TxnMetadata) -> bool:
        groups = self.state.groups
        for group_id, offsets in m.pending_offsets.items():
            if not offsets or group_id not in m.groups:
                continue
            if groups is None:
                return False
            items = [(t, p, c) for (t, p), c in sorted(offsets.items())]
            if not await groups.commit_txn_offsets(group_id, items):
                log.error(
                    "transaction %r: cannot store the offsets of group %s", m.transactional_id, group_id
                )
                return False
        return True

    # ------------------------------------------------------------ persistence

    async def _write(self, new: TxnMetadata) -> int:
        """Write ``new``, then make it current; NONE or COORDINATOR_NOT_AVAILABLE."""
        assert self._log is not None
        try:
            self._log.write_state(new)
        except (OSError, TxnLogError) as exc:
            log.error("transaction %r: cannot write the transaction log: %s", new.transactional_id, exc)
            return COORDINATOR_NOT_AVAILABLE
        self.txns[new.transactional_id] = new
        if await self._flush():
            return COORDINATOR_NOT_AVAILABLE
        self._log.maybe_compact(self.txns.values())
        return NONE

    async def _flush(self) -> int:
        assert self._log is not None
        try:
            await self._log.flush()
        except Exception as exc:  # noqa: BLE001 - KafkaStorageError or an OSError from the fsync thread
            log.error("fsync of the transaction log failed: %s", exc)
            return COORDINATOR_NOT_AVAILABLE
        return NONE

    # ------------------------------------------------------------ recovery and housekeeping

    async def _abort_orphans(self) -> None:
        """Abort every transaction a partition holds open that no Ongoing transaction owns."""
        owners = {m.producer_id: m for m in self.txns.values()}
        for topic in list(self.state.topics):
            for p in topic.partitions:
                for entry in p.log.producer_state.entries():
                    if entry.txn_first_offset < 0:
                        continue
                    tp = (topic.name, p.index)
                    m = owners.get(entry.producer_id)
                    if m is not None and m.state == ONGOING and m.producer_epoch == entry.epoch:
                        if tp not in m.partitions:
                            await self._write(m.evolve(partitions=m.partitions | {tp}))
                            owners[entry.producer_id] = self.txns[m.transactional_id]
                        continue
                    epoch = max(entry.epoch, m.producer_epoch if m is not None else -1)
                    log.warning(
                        "%s-%d: producer id %d left a transaction open at offset %d: aborting it",
                        topic.name,
                        p.index,
                        entry.producer_id,
                        entry.txn_first_offset,
                    )
                    batch = encode_control_batch(False, entry.producer_id, epoch, now_ms())
                    try:
                        p.log.append(batch, leader_epoch=p.leader_epoch, allow_control=True)
                    except (BrokerResponseError, OSError) as exc:
                        log.error("%s-%d: cannot abort it: %s", topic.name, p.index, exc)
                        continue
                    if self.state.committer is not None:
                        with contextlib.suppress(Exception):
                            await self.state.committer.sync(p.log)

    async def _periodic(self) -> None:
        cfg = self.state.config
        interval = cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_timeouts()
            except Exception:  # noqa: BLE001 - housekeeping must never stop
                log.exception("transaction housekeeping failed")

    async def check_timeouts(self, now: int | None = None) -> None:
        """Abort expired Ongoing transactions, retry unfinished ones, forget idle transactional ids."""
        now = now_ms() if now is None else now
        expiration = self.state.config.transactional_id_expiration_ms
        for txn_id, m in list(self.txns.items()):
            if txn_id in self._finishing or self.txns.get(txn_id) is not m:
                continue
            if m.state == ONGOING and m.start_ms + m.timeout_ms < now:
                log.info(
                    "transaction %r (producer id %d) timed out after %d ms: aborting it",
                    txn_id,
                    m.producer_id,
                    m.timeout_ms,
                )
                await self._fence_and_abort(m)
            elif m.state in (PREPARE_COMMIT, PREPARE_ABORT):
                await self._finish(txn_id)
            elif m.state in (EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT) and m.update_ms + expiration < now:
                assert self._log is not None
                try:
                    self._log.write_remove(txn_id)
                except (OSError, TxnLogError) as exc:
                    log.error("cannot forget transactional id %r: %s", txn_id, exc)
                    continue
                del self.txns[txn_id]
                log.info("transactional id %r expired", txn_id)
        await self._flush()


def _valid_producer_id(m: TxnMetadata, pid: int, epoch: int) -> bool:
    """KIP-360: whether a producer re-initialising with (pid, epoch) may still own ``m``."""
    return (
        m.producer_epoch == -1
        or pid == m.producer_id
        or (pid == m.previous_producer_id and epoch >= EPOCH_EXHAUSTED)
    )
