"""Review: models/prepared.py must run what `Connection.execute` runs. Binds that carry
their own value - a literal None (`.values(note=None)`) or a callable - are not given by
the caller: the positional plan drops them (`bind.value is not None`) and fails with
KeyError, while SQLAlchemy's path (and the named-paramstyle fallback) writes them."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    select,
    update,
)

from models.prepared import Prepared

META = MetaData()
ROWS = Table("t", META, Column("id", Integer, primary_key=True), Column("a", String),
             Column("n", Integer))


@pytest.mark.parametrize("paramstyle", ["qmark", "numeric", "named"])
def test_binds_with_their_own_values(paramstyle: str) -> None:
    engine = create_engine("sqlite://", paramstyle=paramstyle)
    META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(ROWS.insert(), [{"id": 1, "a": "x", "n": 0}])
        to_null = Prepared(update(ROWS).where(ROWS.c.id == bindparam("i")).values(a=None))
        assert to_null.run(conn, {"i": 1}).rowcount == 1
        assert conn.execute(select(ROWS.c.a)).scalar() is None

        counter = itertools.count(1)
        counted = Prepared(update(ROWS).where(ROWS.c.id == bindparam("i")).values(
            n=bindparam("nn", callable_=lambda: next(counter))))
        for _ in range(3):
            counted.run(conn, {"i": 1})
        assert conn.execute(select(ROWS.c.n)).scalar() == 3  # called per run, as SQLAlchemy
    engine.dispose()
