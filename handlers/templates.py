"""Response templates: saved answers per OPD that its PICs send with one tap.

`/templat` lists, adds and deletes them; a tap answers the citizen through the same
lifecycle use case as typing the text (ask for info, resolve, or a plain reply)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.admin import UsageError
from models import repo
from models.tables import Opd, Report, ResponseTemplate

TITLE_MAX = 64
TEXT_MAX = lifecycle.NOTE_MAX
ADD = {"tambah", "add"}
DELETE = {"hapus", "del", "delete"}
LIST_MAX = 30  # templates per OPD: a keyboard of them must stay usable
# What a tap answers: the ask-info prompt, the resolve prompt, or a reply to the citizen.
USES = {"i": "info", "r": "resolve", "m": "reply"}


@dataclass
class Command:
    """A parsed `/templat` line: an optional OPD code, then list | add | delete."""

    opd_code: str | None
    action: str  # list | add | delete
    title: str = ""
    text: str = ""
    number: int = 0


def parse(args: str) -> Command:
    """`[OPD] [tambah Judul | teks | hapus N]` -> Command; UsageError('tpl-usage') if bad."""
    words = args.strip().split(maxsplit=1)
    code = None
    if words and words[0].lower() not in ADD | DELETE:
        code = words[0]
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
    if not words:
        return Command(code, "list")
    verb, rest = words[0].lower(), (words[1] if len(words) > 1 else "").strip()
    if verb in ADD:
        title, bar, text = rest.partition("|")
        title, text = " ".join(title.split()), text.strip()
        if not bar or not title or not text or len(title) > TITLE_MAX or len(text) > TEXT_MAX:
            raise UsageError("tpl-usage")
        return Command(code, "add", title=title, text=text)
    if verb in DELETE:
        if not rest.isdigit() or int(rest) < 1:
            raise UsageError("tpl-usage")
        return Command(code, "delete", number=int(rest))
    raise UsageError("tpl-usage")


async def group_opd(session: AsyncSession, chat_id: int, thread_id: int | None) -> Opd | None:
    """The OPD bound to a group (to the topic, in a forum), if exactly one is."""
    opds = list((await session.exec(select(Opd).where(Opd.chat_id == chat_id))).all())
    if thread_id is not None:
        exact = [o for o in opds if o.thread_id == thread_id]
        opds = exact or [o for o in opds if o.thread_id is None]
    return opds[0] if len(opds) == 1 else None


async def opd_by_code(session: AsyncSession, code: str) -> Opd | None:
    return await repo.opd_by_code(session, code)


async def of_opd(session: AsyncSession, opd_id: int) -> list[ResponseTemplate]:
    """An OPD's templates, numbered by this order (oldest first)."""
    result = await session.exec(select(ResponseTemplate).where(
        ResponseTemplate.opd_id == opd_id).order_by(col(ResponseTemplate.id)).limit(LIST_MAX))
    return list(result.all())


async def add(session: AsyncSession, opd: Opd, title: str, text: str, user_id: int,
              commit: bool = True) -> int:
    """Store a template (committed unless `commit=False`); returns its number in the OPD's
    list, or 0 when the list is full."""
    number = len(await of_opd(session, opd.id or 0)) + 1
    if number > LIST_MAX:
        if commit:
            await session.commit()
        return 0
    session.add(ResponseTemplate(opd_id=opd.id or 0, title=title, text=text,
                                 created_by=user_id))
    if commit:
        await session.commit()
    return number


async def delete(session: AsyncSession, opd: Opd, number: int, commit: bool = True
                 ) -> ResponseTemplate | None:
    """Delete template number `number` of the OPD (committed unless `commit=False`); None if
    there is none."""
    templates = await of_opd(session, opd.id or 0)
    if number > len(templates):
        return None
    gone = templates[number - 1]
    await session.delete(gone)
    if commit:
        await session.commit()
    return gone


async def use(session: AsyncSession, deps: lifecycle.Deps, actor: lifecycle.Actor,
              report_id: int, template_id: int, what: str, commit: bool = True
              ) -> tuple[lifecycle.Outcome, ResponseTemplate | None]:
    """A tap on a template: the same use case as typing its text at the prompt (or as a
    reply to the card). Returns the outcome for the PIC and the template used; committed
    unless `commit=False`."""
    t = deps.translator.bind(deps.default_language)
    report = await session.get(Report, report_id)
    template = await session.get(ResponseTemplate, template_id)
    if report is None or what not in USES:
        return lifecycle.Outcome(False, t("pic-invalid-button")), None
    if template is None or template.opd_id != report.opd_id:
        return lifecycle.Outcome(False, t("tpl-gone")), None
    if not await lifecycle.is_pic(session, deps, actor, report.opd_id):
        if commit:
            await session.commit()
        return lifecycle.Outcome(False, t("pic-not-allowed")), None
    text = template.text
    if USES[what] == "info":
        return await lifecycle.ask_info(session, deps, actor, report, text, commit), template
    if USES[what] == "resolve":
        return await lifecycle.resolve(session, deps, actor, report, text, None,
                                       commit), template
    if not lifecycle.accepts_answers(report):
        status = t(f"status-{report.status}")
        return lifecycle.Outcome(False, t("pic-wrong-state", status=status)), template
    await lifecycle.relay_to_citizen(session, deps, actor, report,
                                     {"type": "text", "text": text}, commit)
    return lifecycle.Outcome(True, t("pic-done"), report=report), template


def offers(templates: list[ResponseTemplate]) -> list[tuple[int, str]]:
    """(template id, button title) of each template, in list order."""
    return [(tp.id or 0, f"{n}. {tp.title}") for n, tp in enumerate(templates, 1)]
