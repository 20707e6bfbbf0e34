"""SQLModel tables. Timestamps are aware UTC; Telegram ids need 64-bit columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.domain import Status, utcnow


class Opd(SQLModel, table=True):
    __tablename__ = "opd"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name_id: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    thread_id: int | None = Field(default=None)
    unreachable_since: datetime | None = None  # the bot was removed from the group
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_id


class Category(SQLModel, table=True):
    __tablename__ = "category"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    opd_id: int = Field(foreign_key="opd.id", index=True)
    name_id: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    requires_photo: bool = Field(default=False)
    requires_location: bool = Field(default=False)
    # Deadlines as "<n>d" (working days in TIMEZONE, skipping holidays) or "<n>h" (hours).
    followup_deadline: str = Field(default="5d", max_length=8)
    resolve_deadline: str = Field(default="14d", max_length=8)
    active: bool = Field(default=True)
    sort: int = Field(default=0)
    # Sent to the OPD whose area (models/geo.py) covers the report's pin, else to `opd_id`.
    route_by_area: bool = Field(default=False)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_id


class Citizen(SQLModel, table=True):
    """A person talking to the bot on one channel."""

    __tablename__ = "citizen"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_citizen_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    language: str = Field(default="id", max_length=8)
    display_name: str | None = Field(default=None, max_length=200)
    username: str | None = Field(default=None, max_length=64)
    # Legacy plain text, emptied at start-up (models/pii.py convert_plaintext); never written.
    phone: str | None = Field(default=None, max_length=32)
    phone_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    blocked_since: datetime | None = None  # the citizen blocked the bot
    banned_at: datetime | None = None  # an admin banned the citizen (/blokir)
    ban_notified: bool = Field(default=False)  # told once, then ignored
    last_inbound_at: datetime | None = None  # WhatsApp's 24-hour window opens here
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class Draft(SQLModel, table=True):
    """A report being written; one per (channel, user); survives restarts."""

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_draft_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    step: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class Report(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_opd_created", "opd_id", "created_at"),
        # Open reds and yellows per OPD, counted and listed from the index alone (reports).
        Index("ix_report_light_opd", "light", "opd_id", "created_at", "status"),
        # The retention purge: reports not yet anonymised, oldest change first.
        Index("ix_report_purge", "personal_purged_at", "updated_at"),
        # Open reports of a category near a pin: a latitude band of one category, longitude
        # checked in the index before any row is read (models/geo.py).
        Index("ix_report_category_lat", "category_id", "latitude", "longitude"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    channel: str = Field(max_length=16)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    category_id: int = Field(foreign_key="category.id")
    opd_id: int = Field(foreign_key="opd.id", index=True)
    description: str = Field(sa_column=Column(Text, nullable=False))
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = Field(default=None, max_length=500)
    reporter_name: str | None = Field(default=None, max_length=200)
    # Legacy plain text, emptied at start-up (models/pii.py convert_plaintext); never written.
    reporter_phone: str | None = Field(default=None, max_length=32)
    anonymous: bool = Field(default=False)  # True exactly when identity_mode is anonymous
    # named | confidential (identity for operators and admins only) | anonymous
    identity_mode: str = Field(default="named", max_length=16)
    reporter_phone_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reporter_phone_hash: str | None = Field(default=None, max_length=64, index=True)
    reporter_nik_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reporter_nik_hash: str | None = Field(default=None, max_length=64, index=True)
    personal_purged_at: datetime | None = None  # retention or /hapus_dataku: anonymised
    language: str = Field(default="id", max_length=8)
    status: str = Field(default=Status.RECEIVED.value, max_length=16, index=True)
    draft_nonce: str | None = Field(default=None, max_length=32, unique=True)
    version: int = Field(default=1)  # compare-and-set guard: two PICs pressing at once
    assignee_id: int | None = Field(default=None, sa_type=BigInteger)
    assignee_name: str | None = Field(default=None, max_length=200)
    card_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    card_message_id: int | None = None
    resolution_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reject_reason: str | None = Field(default=None, max_length=32)
    rating: int | None = None
    reopen_count: int = Field(default=0)
    resolved_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    # Oversight: deadlines, the traffic light and the next moments it changes (indexed, so a
    # scheduler tick finds the reports that turn yellow or red with two range scans).
    verify_due_at: datetime | None = None
    followup_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    first_action_at: datetime | None = None  # the first PIC action: take, progress, info, reply
    followup_on_time: bool | None = None
    followup_secs: int | None = None  # created -> first action, for the report card
    resolve_secs: int | None = None  # created -> (last) resolved
    paused_at: datetime | None = None  # need_info since: the clock stops
    light: str = Field(default="green", max_length=8, index=True)  # green|yellow|red|done
    yellow_at: datetime | None = Field(default=None, index=True)
    red_at: datetime | None = Field(default=None, index=True)
    close_due_at: datetime | None = Field(default=None, index=True)  # auto-close when resolved
    supporters: int = Field(default=0)
    # Operator verification (VERIFY_REPORTS): when and by whom; a merged duplicate's target.
    verified_at: datetime | None = None
    verified_by: str | None = Field(default=None, max_length=200)
    merged_into_id: int | None = Field(default=None, foreign_key="report.id")
    # Spam score at submit (0-100) and its signals, comma-separated (repeat,nomedia,new,hoax:N).
    spam_score: int = Field(default=0)
    spam_reasons: str | None = Field(default=None, max_length=100)

    @property
    def identity_hidden(self) -> bool:
        """Whether an OPD (group, card, exports) must not see who reported."""
        return self.anonymous or self.identity_mode != "named"


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    kind: str = Field(max_length=16)
    path: str = Field(max_length=500)
    size: int
    sha256: str = Field(max_length=64)
    mime: str | None = Field(default=None, max_length=100)
    source_ref: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class ReportEvent(SQLModel, table=True):
    """One line of a report's timeline: when, who, from, to, note."""

    __tablename__ = "report_event"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=32)
    actor_kind: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    actor_name: str | None = Field(default=None, max_length=200)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Pic(SQLModel, table=True):
    """A staff member allowed to act on an OPD's reports (by user id, or a username until seen)."""

    __tablename__ = "pic"
    __table_args__ = (UniqueConstraint("opd_id", "user_id", name="uq_pic_opd_user"),)

    id: int | None = Field(default=None, primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", index=True)
    user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    username: str | None = Field(default=None, max_length=64, index=True)
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class MessageLink(SQLModel, table=True):
    """(chat, message) the bot posted or relayed -> the report it is about, and its role."""

    __tablename__ = "message_link"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_link_chat_message"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int
    report_id: int = Field(foreign_key="report.id", index=True)
    kind: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """A message to deliver, written in the transaction of the change that caused it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(default="telegram", max_length=16)
    chat_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    lease_until: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    sent_message_id: int | None = None
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    delivery_status: str | None = Field(default=None, max_length=16)  # WhatsApp receipts


class Inbox(SQLModel, table=True):
    """An inbound update (Telegram update, WhatsApp message), recorded before it is processed.

    Unique per channel by the channel's own id, so a re-delivery is recorded once; processed
    in order per `chat_key`; its status turns `done` in the transaction of its effects."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "update_key", name="uq_inbox_channel_key"),
        # The few rows whose direct answers may still be unsent (models/inbox.py `stash`).
        Index("ix_inbox_answer_pending", "id", sqlite_where=text("answer IS NOT NULL"),
              postgresql_where=text("answer IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    update_key: str = Field(max_length=128)
    chat_key: str = Field(max_length=64, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="new", max_length=16, index=True)
    attempts: int = Field(default=0)
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    # Direct answers committed with the update's effects and not yet known to be sent:
    # [{"chat": ..., "payload": outbox text payload, "report_id": ...}]; NULL once sent.
    answer: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))


class JobLease(SQLModel, table=True):
    """One scheduled job's claim: a process runs the job only while it holds the lease, and
    `last_key` records the last period done (a weekly digest's week) so it runs once."""

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    last_key: str | None = Field(default=None, max_length=64)
    last_run_at: datetime | None = None


class StaffRole(SQLModel, table=True):
    """An admin or operator granted by a super-admin (ADMIN_IDS stay super-admins)."""

    __tablename__ = "staff_role"
    __table_args__ = (UniqueConstraint("user_id", "role", name="uq_staff_role_user_role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    role: str = Field(max_length=16)  # admin | operator
    name: str | None = Field(default=None, max_length=200)
    granted_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class ResponseTemplate(SQLModel, table=True):
    """A saved answer a PIC of the OPD can send with one tap."""

    __tablename__ = "response_template"

    id: int | None = Field(default=None, primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", index=True)
    title: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class Broadcast(SQLModel, table=True):
    """An admin's announcement to every citizen; resumable, cancellable, counted."""

    __tablename__ = "broadcast"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: int = Field(sa_type=BigInteger)
    chat_id: int = Field(sa_type=BigInteger)  # where the progress message lives
    progress_message_id: int | None = None
    status: str = Field(default="running", max_length=16, index=True)  # running|cancelled|done
    cursor: int = Field(default=0)  # the last citizen id queued
    total: int = Field(default=0)
    delivered: int = Field(default=0)
    blocked: int = Field(default=0)
    failed: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class BroadcastRecipient(SQLModel, table=True):
    """One citizen of one broadcast: unique, so a resumed broadcast messages no one twice."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (UniqueConstraint("broadcast_id", "citizen_id", name="uq_bcast_citizen"),)

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    citizen_id: int = Field(foreign_key="citizen.id")
    status: str = Field(default="queued", max_length=16)  # queued|delivered|blocked|failed


class Area(SQLModel, table=True):
    """A polygon an OPD covers (routing by area), or with no OPD the deployment's service area.

    `geojson` is a Polygon or MultiPolygon geometry (holes allowed), longitude first."""

    __tablename__ = "area"

    id: int | None = Field(default=None, primary_key=True)
    opd_id: int | None = Field(default=None, foreign_key="opd.id", index=True)
    name: str = Field(max_length=200)
    geojson: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Follower(SQLModel, table=True):
    """A citizen following someone else's report: told of its progress, counted as support."""

    __tablename__ = "follower"
    __table_args__ = (UniqueConstraint("report_id", "citizen_id", name="uq_follower_report"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id")
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
