"""Aduan data layer: SQLModel tables, the engine, repositories and domain rules."""
