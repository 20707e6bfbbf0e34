"""Citizens following a report filed by someone else: the rows, the supporter count, merges.

`Report.supporters` is the number of the report's followers, kept by atomic UPDATEs (a
follow adds one, an unfollow takes one) and recounted under the report's row lock when
followers are moved by a merge. None of these commit: the caller's use case does.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.domain import OPEN_STATUSES, utcnow
from models.repo import insert_ignoring_conflict
from models.tables import Citizen, Follower, Report


class FollowOutcome(StrEnum):
    FOLLOWED = "followed"
    ALREADY = "already"  # following it already
    OWN = "own"  # the citizen's own report
    CLOSED = "closed"  # unknown, finished or rejected: nothing to follow


async def follow(session: AsyncSession, report_id: int, citizen_id: int) -> FollowOutcome:
    """Make the citizen a follower of an open report (once) and count the support."""
    # Under the report's row lock: a PIC merging or rejecting it at this moment either sees
    # this follower or is seen to have finished it, never leaves one behind.
    report = await session.get(Report, report_id, with_for_update=True, populate_existing=True)
    if report is None or report.status not in OPEN_STATUSES:
        return FollowOutcome.CLOSED
    if report.citizen_id == citizen_id:
        return FollowOutcome.OWN
    inserted = (await session.execute(
        insert_ignoring_conflict(session, Follower.__table__,  # type: ignore[attr-defined]
                                 {"report_id": report_id, "citizen_id": citizen_id,
                                  "created_at": utcnow()})
        .returning(Follower.__table__.c.id))).first()  # type: ignore[attr-defined]
    if inserted is None:
        return FollowOutcome.ALREADY
    await session.execute(
        update(Report).where(col(Report.id) == report_id)
        .values(supporters=col(Report.supporters) + 1)
        .execution_options(synchronize_session=False))
    return FollowOutcome.FOLLOWED


async def unfollow(session: AsyncSession, report_id: int, citizen_id: int) -> bool:
    """Stop following; True if the citizen was a follower (the count goes down by one)."""
    gone = (await session.execute(
        delete(Follower).where(col(Follower.report_id) == report_id,
                               col(Follower.citizen_id) == citizen_id)
        .returning(col(Follower.id)))).first()
    if gone is None:
        return False
    await session.execute(
        update(Report).where(col(Report.id) == report_id, col(Report.supporters) > 0)
        .values(supporters=col(Report.supporters) - 1)
        .execution_options(synchronize_session=False))
    return True


async def is_follower(session: AsyncSession, report_id: int, citizen_id: int) -> bool:
    return (await session.exec(select(Follower.id).where(
        Follower.report_id == report_id, Follower.citizen_id == citizen_id))).first() is not None


async def followers_of(session: AsyncSession, report_id: int) -> Sequence[Citizen]:
    """The citizens following a report, in the order they followed."""
    return (await session.exec(
        select(Citizen).join(Follower, col(Follower.citizen_id) == col(Citizen.id))
        .where(Follower.report_id == report_id).order_by(col(Follower.id)))).all()


async def followed_reports(session: AsyncSession, citizen_id: int, limit: int = 10
                           ) -> Sequence[Report]:
    """The reports a citizen follows, newest first."""
    return (await session.exec(
        select(Report).join(Follower, col(Follower.report_id) == col(Report.id))
        .where(Follower.citizen_id == citizen_id)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc()).limit(limit))).all()


async def move_followers(session: AsyncSession, source: Report, target: Report) -> int:
    """A duplicate merged into `target`: the source's followers and its reporter follow the
    target instead (never twice, never the target's own reporter); both counts recounted.
    Returns how many citizens newly follow the target."""
    assert source.id is not None and target.id is not None and source.id != target.id
    # The target's row first: a follow committing meanwhile is either counted below or
    # adds its one after this transaction, never lost.
    await session.exec(select(Report.id).where(Report.id == target.id).with_for_update())
    citizens = list((await session.exec(select(Follower.citizen_id).where(
        Follower.report_id == source.id).order_by(col(Follower.id)))).all())
    citizens.insert(0, source.citizen_id)
    moved = 0
    now = utcnow()
    for citizen_id in dict.fromkeys(citizens):  # unique, in order
        if citizen_id == target.citizen_id:
            continue
        inserted = (await session.execute(
            insert_ignoring_conflict(session, Follower.__table__,  # type: ignore[attr-defined]
                                     {"report_id": target.id, "citizen_id": citizen_id,
                                      "created_at": now})
            .returning(Follower.__table__.c.id))).first()  # type: ignore[attr-defined]
        moved += inserted is not None
    await session.execute(delete(Follower).where(col(Follower.report_id) == source.id))
    for report in (source, target):
        count = select(func.count()).select_from(Follower).where(
            col(Follower.report_id) == report.id).scalar_subquery()
        await session.execute(update(Report).where(col(Report.id) == report.id)
                              .values(supporters=count)
                              .execution_options(synchronize_session=False))
    for report in (source, target):
        await session.refresh(report, attribute_names=["supporters"])
    return moved
