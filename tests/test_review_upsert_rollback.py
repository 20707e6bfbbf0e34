"""Review: a first contact rolled back (models/repo.py upsert_citizen). Before the INSERT ...
ON CONFLICT path, the new citizen was a pending ORM insert: a rollback made it transient
again, its values readable and a retry in the same session possible. Now the row is
attached as loaded (make_transient_to_detached + add), so a rollback expires it: reading it
tries a lazy load (MissingGreenlet under asyncio), and on SQLite, which reuses the rolled
back rowid, a retry in the same session cannot attach the new row (another instance holds
its identity). No caller does this today (resolve and the WhatsApp path commit at once)."""

from __future__ import annotations

from models import repo
from models.db import make_engine, make_sessionmaker, migrate


async def test_a_rolled_back_first_contact_leaves_a_usable_object(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
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
    finally:
        await engine.dispose()


async def test_a_savepoint_rolled_back_later_keeps_the_first_contact(db_url: str) -> None:
    """Only the transaction (or savepoint) that inserted the row takes it back: a savepoint
    opened and rolled back afterwards (a ticket code that collided) leaves the citizen."""
    from sqlmodel import select

    from models.tables import Citizen

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
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
    finally:
        await engine.dispose()
