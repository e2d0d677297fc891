"""The embedded broker's classic consumer-group coordinator: membership, rebalances, offsets.

How it works: ``GroupCoordinator`` owns every ``ClassicGroup`` and an ``OffsetsStore``. It follows
Apache Kafka's classic group protocol state machine (Empty, PreparingRebalance,
CompletingRebalance, Stable, Dead); the offset side (commits, fetches, deletes, retention) is
its base class ``GroupOffsets`` (``kafkakit.broker.group_offsets``). A JoinGroup or SyncGroup that
must wait is answered through an ``asyncio.Future`` kept on the member; the handler awaits it, so a
rebalance never blocks other connections. Timers (``loop.call_later``, one per key, rescheduling replaces) drive member session
expiry, the rebalance timeout, the initial-rebalance delay of a new group and the pending-sync
timeout. Everything runs on the event loop, so no locks are needed: each public method makes its
state changes without awaiting in between (only the offset methods await, and only the durability
of what they already wrote). Committed offsets go through ``OffsetsStore`` (written to the OS, and
fsynced with ``config.fsync``, before the caller answers); a group's protocol type and generation
are kept too, its members are not (after a restart members rejoin). Expired offsets and empty
groups without offsets are removed periodically, as Kafka's offset retention does.

What it must never do: raise on anything a client sends (every refusal is an error code), leave a
waiting JoinGroup/SyncGroup without an answer when its member goes away or the coordinator stops,
answer an offset commit before it reached the OS, or block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from kafkakit.broker.group_model import (
    COMPLETING_REBALANCE,
    COORDINATOR_NOT_AVAILABLE,
    DEAD,
    EMPTY,
    GROUP_ID_NOT_FOUND,
    GROUP_MAX_SIZE,
    GROUP_MAX_SIZE_REACHED,
    ILLEGAL_GENERATION,
    INCONSISTENT_GROUP_PROTOCOL,
    INVALID_GROUP_ID,
    INVALID_SESSION_TIMEOUT,
    MEMBER_ID_REQUIRED,
    NEW_MEMBER_JOIN_TIMEOUT_MS,
    NON_EMPTY_GROUP,
    NONE,
    NOT_COORDINATOR,
    PREPARING_REBALANCE,
    REBALANCE_IN_PROGRESS,
    STABLE,
    STATES,
    UNKNOWN_MEMBER_ID,
    ClassicGroup,
    JoinRequest,
    Member,
    Response,
    Timers,
    _resolve,
    heartbeat_key,
    join_error,
    join_key,
    sync_error,
    sync_key,
)
from kafkakit.broker.group_offsets import GroupOffsets
from kafkakit.broker.offsets_store import (
    FILE_NAME,
    GroupRecord,
    OffsetsStore,
    OffsetsStoreError,
)

log = logging.getLogger("kafkakit.broker.groups")

__all__ = ["GroupCoordinator", "ClassicGroup", "Member", "JoinRequest", "STATES"]


class GroupCoordinator(GroupOffsets):
    """Every classic group of the broker and their committed offsets (see the module docstring)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.groups: dict[str, ClassicGroup] = {}
        self.store = OffsetsStore(None)
        self._timers = Timers()
        self._cleanup_task: asyncio.Task[None] | None = None
        self._started = False

    def _cfg(self, name: str, default: int) -> int:
        value = getattr(getattr(self.state, "config", None), name, default)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else default

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load committed offsets (and group records) from disk; start the retention task."""
        cfg = getattr(self.state, "config", None)
        data_dir = getattr(self.state, "data_dir", None)
        path = data_dir / FILE_NAME if data_dir is not None else None
        fsync = bool(getattr(cfg, "fsync", False))
        self.store = OffsetsStore(path, fsync=fsync, committer=getattr(self.state, "committer", None))
        await asyncio.get_running_loop().run_in_executor(None, self.store.load)
        for gid in self.store.group_ids():
            rec = self.store.group_record(gid)
            if rec is None:
                self.groups[gid] = ClassicGroup(gid)
            else:
                self.groups[gid] = ClassicGroup(
                    gid, EMPTY, rec.generation_id, rec.protocol_type, rec.state_timestamp_ms
                )
        self._cleanup_task = asyncio.get_running_loop().create_task(self._cleanup_loop())
        self._started = True

    async def stop(self) -> None:
        """Answer every waiting request with NOT_COORDINATOR, stop timers, close the store."""
        if self._cleanup_task is not None:
            self._cleanup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._cleanup_task
            self._cleanup_task = None
        self._timers.cancel_all()
        for group in self.groups.values():
            for m in group.members.values():
                group.complete_join(m, join_error(m.member_id, NOT_COORDINATOR))
                group.complete_sync(m, sync_error(NOT_COORDINATOR))
        self.groups.clear()
        self.store.close()

    # ------------------------------------------------------------ JoinGroup

    def join_group(self, req: JoinRequest) -> asyncio.Future[Response]:
        """Start a JoinGroup; the future resolves with the response body (version-neutral)."""
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        if not req.group_id:
            fut.set_result(join_error(req.member_id, INVALID_GROUP_ID))
            return fut
        lo = self._cfg("group_min_session_timeout_ms", 6000)
        hi = self._cfg("group_max_session_timeout_ms", 1_800_000)
        if not lo <= req.session_timeout_ms <= hi:
            fut.set_result(join_error(req.member_id, INVALID_SESSION_TIMEOUT))
            return fut
        if req.rebalance_timeout_ms < 0:
            req.rebalance_timeout_ms = req.session_timeout_ms
        unique: dict[str, bytes] = {}
        for name, meta in req.protocols:
            unique.setdefault(name, meta)  # a protocol listed twice counts once, first wins
        req.protocols = list(unique.items())
        group = self.groups.get(req.group_id)
        if group is None:
            if req.member_id:
                fut.set_result(join_error(req.member_id, UNKNOWN_MEMBER_ID))
                return fut
            group = self.groups[req.group_id] = ClassicGroup(req.group_id)
        if not self._accept_joining_member(group, req.member_id):
            group.remove(req.member_id)
            _resolve(fut, join_error("", GROUP_MAX_SIZE_REACHED))
        elif not req.member_id:
            self._join_new_member(group, req, fut)
        else:
            self._join_existing_member(group, req, fut)
        return fut

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self._cfg("group_max_size", GROUP_MAX_SIZE)
        if group.state in (EMPTY, DEAD):
            return True
        member = group.members.get(member_id)
        if group.state == PREPARING_REBALANCE:
            return (
                member is not None and member.join_future is not None
            ) or group.num_awaiting_join() < max_size
        return member is not None or len(group.members) < max_size

    def _join_new_member(self, group: ClassicGroup, req: JoinRequest, fut: asyncio.Future[Response]) -> None:
        if group.state == DEAD:
            fut.set_result(join_error("", COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            fut.set_result(join_error("", INCONSISTENT_GROUP_PROTOCOL))
            return
        new_id = f"{req.group_instance_id or req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            existing = group.static_members.get(req.group_instance_id)
            if existing is not None:
                self._update_static_member(group, req, existing, new_id, fut)
            else:
                self._add_member_and_rebalance(group, req, new_id, fut)
        elif req.version >= 4:
            group.pending_join.add(new_id)
            self._timers.schedule(
                heartbeat_key(group.group_id, new_id),
                req.session_timeout_ms,
                self._expire_heartbeat,
                group.group_id,
                new_id,
            )
            fut.set_result(join_error(new_id, MEMBER_ID_REQUIRED))
        else:
            self._add_member_and_rebalance(group, req, new_id, fut)

    def _join_existing_member(
        self, group: ClassicGroup, req: JoinRequest, fut: asyncio.Future[Response]
    ) -> None:
        mid = req.member_id
        if group.state == DEAD:
            fut.set_result(join_error(mid, COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            fut.set_result(join_error(mid, INCONSISTENT_GROUP_PROTOCOL))
            return
        if mid in group.pending_join:
            if req.group_instance_id is not None:  # pending members are never static
                fut.set_result(join_error(mid, UNKNOWN_MEMBER_ID))
            else:
                self._add_member_and_rebalance(group, req, mid, fut)
            return
        error = group.validate_member(mid, req.group_instance_id)
        if error:
            fut.set_result(join_error(mid, error))
            return
        member = group.members[mid]
        if group.state == PREPARING_REBALANCE:
            self._update_member_and_rebalance(group, member, req, fut, "member rejoining")
        elif group.state == COMPLETING_REBALANCE:
            if member.matches(req.protocols):
                # it lost the first JoinGroup response: answer again for the current generation
                members = group.current_members() if group.is_leader(mid) else []
                fut.set_result(group.join_response(mid, members))
            else:
                self._update_member_and_rebalance(group, member, req, fut, "member metadata changed")
        elif group.state == STABLE:
            if group.is_leader(mid) or not member.matches(req.protocols):
                # the leader rejoining forces a rebalance (it may have seen topic metadata change)
                self._update_member_and_rebalance(
                    group, member, req, fut, "leader rejoined or metadata changed"
                )
            else:
                fut.set_result(group.join_response(mid))
        else:
            fut.set_result(join_error(mid, UNKNOWN_MEMBER_ID))

    def _add_member_and_rebalance(
        self, group: ClassicGroup, req: JoinRequest, member_id: str, fut: asyncio.Future[Response]
    ) -> None:
        member = Member(
            member_id,
            req.group_instance_id,
            req.client_id,
            req.client_host,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            req.protocol_type,
            req.protocols,
            is_new=True,
        )
        if group.state == PREPARING_REBALANCE and group.previous_state == EMPTY:
            group.new_member_added = True
        group.add(member, fut)
        # the session timeout does not apply to a member that has not joined yet, this does
        self._reschedule_heartbeat(
            group, member, self._cfg("group_new_member_join_timeout_ms", NEW_MEMBER_JOIN_TIMEOUT_MS)
        )
        self._maybe_prepare_rebalance_or_complete_join(group, f"new member {member_id} joined")

    def _update_member_and_rebalance(
        self,
        group: ClassicGroup,
        member: Member,
        req: JoinRequest,
        fut: asyncio.Future[Response],
        reason: str,
    ) -> None:
        group.update_member(member, req, fut)
        self._maybe_prepare_rebalance_or_complete_join(group, f"{reason}: {member.member_id}")

    def _update_static_member(
        self, group: ClassicGroup, req: JoinRequest, old_id: str, new_id: str, fut: asyncio.Future[Response]
    ) -> None:
        assert req.group_instance_id is not None
        current_leader = group.leader_id
        self._timers.cancel(heartbeat_key(group.group_id, old_id))
        member = group.replace_static_member(req.group_instance_id, old_id, new_id)
        self._reschedule_heartbeat(group, member)
        group.update_member(member, req, fut)
        log.info("group %s: static member %s rejoined as %s", group.group_id, req.group_instance_id, new_id)
        if group.state == STABLE:
            if group.protocol_name == group.select_protocol():
                # same protocol: no rebalance, the member keeps its assignment
                if req.version >= 9:
                    leader = group.is_leader(new_id)
                    resp = group.join_response(
                        new_id, group.current_members() if leader else [], skip_assignment=leader
                    )
                else:
                    # the old leader id keeps a rejoining leader from computing a pointless assignment
                    resp = group.join_response(new_id, leader=current_leader or "")
                group.complete_join(member, resp)
            else:
                self._maybe_prepare_rebalance_or_complete_join(
                    group, f"static member {new_id} changed protocols"
                )
        elif group.state == COMPLETING_REBALANCE:
            # the leader may be assigning the old member id: rebalance again
            self._prepare_rebalance(group, f"static member {new_id} replaced {old_id} during a rebalance")
        else:
            self._maybe_complete_join_phase(group)

    # ------------------------------------------------------------ rebalance machinery

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)
        else:
            self._maybe_complete_join_phase(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        if group.state != PREPARING_REBALANCE or group.previous_state == EMPTY:
            return  # the initial rebalance completes on its timer only
        if group.has_all_members_joined():
            self._complete_join(group)

    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.state == COMPLETING_REBALANCE:
            self._reset_and_propagate_assignment_error(group, REBALANCE_IN_PROGRESS)
        self._remove_sync_expiration(group)
        initial = group.state == EMPTY
        if initial:
            delay = self._cfg("group_initial_rebalance_delay_ms", 0)
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self._timers.schedule(
                join_key(group.group_id),
                delay,
                self._try_complete_initial_rebalance,
                group.group_id,
                delay,
                remaining,
            )
        group.transition_to(PREPARING_REBALANCE)
        log.info(
            "group %s: preparing to rebalance (generation %d): %s",
            group.group_id,
            group.generation_id,
            reason,
        )
        if not initial:
            if group.has_all_members_joined():
                self._complete_join(group)
            else:
                self._timers.schedule(
                    join_key(group.group_id),
                    group.rebalance_timeout_ms(),
                    self._complete_join_by_id,
                    group.group_id,
                )

    def _try_complete_initial_rebalance(self, group_id: str, delay: int, remaining: int) -> None:
        group = self.groups.get(group_id)
        if group is None or group.state != PREPARING_REBALANCE:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self._cfg("group_initial_rebalance_delay_ms", 0), remaining)
            new_remaining = max(remaining - delay, 0)
            self._timers.schedule(
                join_key(group_id),
                new_delay,
                self._try_complete_initial_rebalance,
                group_id,
                new_delay,
                new_remaining,
            )
        else:
            self._complete_join(group)

    def _complete_join_by_id(self, group_id: str) -> None:
        group = self.groups.get(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        gid = group.group_id
        self._timers.cancel(join_key(gid))
        if group.state != PREPARING_REBALANCE:
            return
        late = [m for m in group.members.values() if m.join_future is None and m.group_instance_id is None]
        for m in late:
            group.remove(m.member_id)
            self._timers.cancel(heartbeat_key(gid, m.member_id))
        if late:
            log.info("group %s: removed members that did not rejoin: %s", gid, [m.member_id for m in late])
        if not group.maybe_elect_new_joined_leader() and group.members:
            log.warning("group %s: no member rejoined; waiting for sessions to expire", gid)
            self._timers.schedule(join_key(gid), group.rebalance_timeout_ms(), self._complete_join_by_id, gid)
            return
        group.init_next_generation()
        self._persist_group(group)
        if group.state == EMPTY:
            log.info("group %s: generation %d is empty", gid, group.generation_id)
            return
        log.info(
            "group %s: generation %d with %d members (protocol %s, leader %s)",
            gid,
            group.generation_id,
            len(group.members),
            group.protocol_name,
            group.leader_id,
        )
        for member in list(group.members.values()):
            members = group.current_members() if group.is_leader(member.member_id) else []
            group.complete_join(member, group.join_response(member.member_id, members))
            self._reschedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        self._timers.schedule(
            sync_key(gid), group.rebalance_timeout_ms(), self._expire_pending_sync, gid, group.generation_id
        )

    def _expire_pending_sync(self, group_id: str, generation_id: int) -> None:
        group = self.groups.get(group_id)
        if group is None or group.generation_id != generation_id:
            return
        if group.state in (COMPLETING_REBALANCE, STABLE) and group.pending_sync:
            late = sorted(group.pending_sync)
            for mid in late:
                group.remove(mid)
                self._timers.cancel(heartbeat_key(group_id, mid))
            self._prepare_rebalance(group, f"members {late} did not send SyncGroup in time")

    def _remove_sync_expiration(self, group: ClassicGroup) -> None:
        group.pending_sync.clear()
        self._timers.cancel(sync_key(group.group_id))

    def _remove_pending_sync_member(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if group.state not in (COMPLETING_REBALANCE, STABLE) or not group.pending_sync:
            self._timers.cancel(sync_key(group.group_id))

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, error: int) -> None:
        for m in group.members.values():
            m.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: ClassicGroup, error: int) -> None:
        ok = error == NONE
        for m in list(group.members.values()):
            resp = {
                "error_code": error,
                "protocol_type": group.protocol_type if ok else None,
                "protocol_name": group.protocol_name if ok else None,
                "assignment": m.assignment,
            }
            if group.complete_sync(m, resp):
                self._reschedule_heartbeat(group, m)

    def _reschedule_heartbeat(
        self, group: ClassicGroup, member: Member, timeout_ms: int | None = None
    ) -> None:
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        self._timers.schedule(
            heartbeat_key(group.group_id, member.member_id),
            timeout,
            self._expire_heartbeat,
            group.group_id,
            member.member_id,
        )

    def _expire_heartbeat(self, group_id: str, member_id: str) -> None:
        group = self.groups.get(group_id)
        if group is None or group.state == DEAD:
            return
        if member_id in group.pending_join:
            log.info("group %s: pending member %s never rejoined; forgotten", group_id, member_id)
            group.remove(member_id)
            if group.state == PREPARING_REBALANCE and group.has_all_members_joined():
                self._complete_join(group)
            return
        member = group.members.get(member_id)
        if member is None or member.has_satisfied_heartbeat():
            return
        log.info("group %s: member %s session expired; removing it", group_id, member_id)
        self._remove_member_and_update(group, member_id, "session timeout")

    def _remove_member_and_update(self, group: ClassicGroup, member_id: str, reason: str) -> None:
        group.remove(member_id)
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group, f"{reason}: {member_id}")
        elif group.state == PREPARING_REBALANCE and group.has_all_members_joined():
            self._complete_join(group)

    def _persist_group(self, group: ClassicGroup) -> None:
        rec = GroupRecord(
            group.protocol_type, group.generation_id, group.protocol_name, group.state_timestamp_ms
        )
        try:
            self.store.set_group_record(group.group_id, rec)
        except (OSError, OffsetsStoreError) as exc:
            log.warning("group %s: cannot persist its generation: %s", group.group_id, exc)

    # ------------------------------------------------------------ SyncGroup, Heartbeat, LeaveGroup

    def sync_group(
        self,
        group_id: str,
        member_id: str,
        instance_id: str | None,
        generation_id: int,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: list[tuple[str, bytes]],
    ) -> asyncio.Future[Response]:
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        if not group_id:
            fut.set_result(sync_error(INVALID_GROUP_ID))
            return fut
        group = self.groups.get(group_id)
        if group is None or group.state == EMPTY:
            fut.set_result(sync_error(UNKNOWN_MEMBER_ID))
            return fut
        if group.state == DEAD:
            error = COORDINATOR_NOT_AVAILABLE
        else:
            error = group.validate_member(member_id, instance_id)
        if not error and generation_id != group.generation_id:
            error = ILLEGAL_GENERATION
        if not error and (
            (
                protocol_type is not None
                and group.protocol_type is not None
                and protocol_type != group.protocol_type
            )
            or (
                protocol_name is not None
                and group.protocol_name is not None
                and protocol_name != group.protocol_name
            )
        ):
            error = INCONSISTENT_GROUP_PROTOCOL
        if error:
            fut.set_result(sync_error(error))
        elif group.state == PREPARING_REBALANCE:
            fut.set_result(sync_error(REBALANCE_IN_PROGRESS))
        elif group.state == COMPLETING_REBALANCE:
            member = group.members[member_id]
            _resolve(member.sync_future, sync_error(REBALANCE_IN_PROGRESS))
            member.sync_future = fut
            self._remove_pending_sync_member(group, member_id)
            if group.is_leader(member_id):
                assignment = dict(assignments)
                log.info(
                    "group %s: assignment for generation %d received from the leader", group_id, generation_id
                )
                for m in group.members.values():
                    m.assignment = assignment.get(m.member_id, b"")
                self._propagate_assignment(group, NONE)
                group.transition_to(STABLE)
        else:  # Stable
            member = group.members[member_id]
            self._remove_pending_sync_member(group, member_id)
            self._reschedule_heartbeat(group, member)
            fut.set_result(
                {
                    "error_code": NONE,
                    "protocol_type": group.protocol_type,
                    "protocol_name": group.protocol_name,
                    "assignment": member.assignment,
                }
            )
        return fut

    def heartbeat(self, group_id: str, member_id: str, instance_id: str | None, generation_id: int) -> int:
        if not group_id:
            return INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            return UNKNOWN_MEMBER_ID
        if group.state == DEAD:
            return COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, instance_id)
        if error:
            return error
        if generation_id != group.generation_id:
            return ILLEGAL_GENERATION
        if group.state == EMPTY:
            return UNKNOWN_MEMBER_ID
        self._reschedule_heartbeat(group, group.members[member_id])
        return REBALANCE_IN_PROGRESS if group.state == PREPARING_REBALANCE else NONE

    def leave_group(
        self, group_id: str, leaving: list[tuple[str, str | None]]
    ) -> tuple[int, list[tuple[str, str | None, int]]]:
        """Remove members; returns the top-level error and one (member id, instance id, error) each."""
        if not group_id:
            return INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None:
            return NONE, [(mid, iid, UNKNOWN_MEMBER_ID) for mid, iid in leaving]
        if group.state == DEAD:
            return COORDINATOR_NOT_AVAILABLE, []
        results: list[tuple[str, str | None, int]] = []
        left: list[str] = []
        for mid, iid in leaving:
            if not mid:
                current = group.static_members.get(iid) if iid is not None else None
                if current is None:
                    results.append((mid, iid, UNKNOWN_MEMBER_ID))
                    continue
                target = current
            elif mid in group.pending_join:
                group.remove(mid)
                self._timers.cancel(heartbeat_key(group_id, mid))
                results.append((mid, iid, NONE))
                left.append(mid)
                continue
            else:
                error = group.validate_member(mid, iid)
                if error:
                    results.append((mid, iid, error))
                    continue
                target = mid
            self._timers.cancel(heartbeat_key(group_id, target))
            group.remove(target)
            results.append((mid, iid, NONE))
            left.append(target)
        if left:
            log.info("group %s: members left: %s", group_id, left)
            if group.state in (STABLE, COMPLETING_REBALANCE):
                self._maybe_prepare_rebalance_or_complete_join(group, f"members left: {left}")
            elif group.state == PREPARING_REBALANCE:
                self._maybe_complete_join_phase(group)
        return NONE, results

    # ------------------------------------------------------------ listing, describing, deleting

    def describe_group(self, group_id: str) -> Response | None:
        """DescribeGroups' view of a group; None when it does not exist."""
        group = self.groups.get(group_id)
        return group.describe() if group is not None else None

    def list_groups(self, states: list[str], types: list[str]) -> list[Response]:
        wanted_states = {s.strip().lower() for s in states}
        wanted_types = {t.strip().lower() for t in types}
        out = []
        for _gid, group in sorted(self.groups.items()):
            if wanted_states and group.state.lower() not in wanted_states:
                continue
            if wanted_types and "classic" not in wanted_types:
                continue
            out.append(group.listed())
        return out

    async def delete_groups(self, group_ids: list[str]) -> list[tuple[str, int]]:
        results: list[tuple[str, int]] = []
        for gid in dict.fromkeys(group_ids):
            group = self.groups.get(gid)
            if group is None or group.state == DEAD:
                results.append((gid, GROUP_ID_NOT_FOUND))
                continue
            if group.state != EMPTY:
                results.append((gid, NON_EMPTY_GROUP))
                continue
            try:
                self.store.delete_group(gid)
            except (OSError, OffsetsStoreError) as exc:
                log.error("group %s: cannot delete it: %s", gid, exc)
                results.append((gid, NOT_COORDINATOR))
                continue
            self._drop_group(group)
            results.append((gid, NONE))
            log.info("group %s deleted", gid)
        try:
            await self.store.flush()
        except (OSError, OffsetsStoreError) as exc:
            log.error("cannot sync group deletions: %s", exc)
            return [(gid, NOT_COORDINATOR if err == NONE else err) for gid, err in results]
        return results

    def _drop_group(self, group: ClassicGroup) -> None:
        group.transition_to(DEAD)
        for mid in list(group.pending_join):
            group.remove(mid)
        self._timers.cancel_group(group.group_id)
        self.groups.pop(group.group_id, None)
