"""A first contact rolled back (models/repo.py upsert_citizen, found in review): the row is
inserted by Core and the object attached as loaded, so without care a rollback would leave it
expired in the identity map (a lazy load, MissingGreenlet under asyncio) under an id SQLite
reuses (a retry in the same session could not attach the new row). The rollback of the
transaction or savepoint that inserted it makes it new again, as an ORM insert's would be."""

from __future__ import annotations

from typing import Any

from models import repo


async def test_a_rolled_back_first_contact_leaves_a_usable_object(migrated: Any) -> None:
    sm = migrated
    async with sm() as s:
        citizen, created = await repo.upsert_citizen(
            s, "telegram", "5", language="id", display_name="Budi", username="budi")
        assert created
        await s.rollback()  # e.g. the commit failed, or the caller changed its mind
        assert citizen.display_name == "Budi"  # no lazy load on a rolled-back insert
        again, created = await repo.upsert_citizen(
            s, "telegram", "5", language="id", display_name="Budi", username="budi")
        assert created and again.id is not None
        await s.commit()


async def test_a_savepoint_rolled_back_later_keeps_the_first_contact(migrated: Any) -> None:
    """Only the transaction (or savepoint) that inserted the row takes it back: a savepoint
    opened and rolled back afterwards (a ticket code that collided) leaves the citizen."""
    from sqlmodel import select

    from models.tables import Citizen

    sm = migrated
    async with sm() as s:
        citizen, created = await repo.upsert_citizen(
            s, "telegram", "6", language="id", display_name="Sari")
        assert created
        try:
            async with s.begin_nested():
                raise RuntimeError("a collision, say")
        except RuntimeError:
            pass
        assert citizen in s and citizen.id is not None
        citizen.language = "en"  # still tracked: written with the commit
        await s.commit()
    async with sm() as s:
        rows = (await s.exec(select(Citizen))).all()
    assert [(r.external_id, r.display_name, r.language) for r in rows] == [
        ("6", "Sari", "en")]
