"""The outbox pacer keeps within Telegram's limits (clock injected: no sleeping)."""

from __future__ import annotations

from bot.outbox import GROUP_WINDOW, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_message_per_second_per_chat() -> None:
    clock = Clock()
    pacer = Pacer(chat_interval=1.0, clock=clock)
    assert pacer.wait_time("42") == 0
    pacer.record("42")
    assert 0.99 <= pacer.wait_time("42") <= 1.0
    assert pacer.wait_time("43") == 0  # other chats are not held up
    clock.now += 1.0
    assert pacer.wait_time("42") == 0


def test_twenty_per_minute_per_group() -> None:
    clock = Clock()
    pacer = Pacer(chat_interval=0.0, group_per_minute=20, clock=clock)
    for _ in range(20):
        assert pacer.wait_time("-100") == 0
        pacer.record("-100")
        clock.now += 0.5
    # the first of the 20 leaves the window (a minute and GROUP_WINDOW's margin after it)
    assert 49 <= pacer.wait_time("-100") <= GROUP_WINDOW - 10
    assert pacer.wait_time("7") == 0  # private chats are not counted as a group


def test_thirty_per_second_overall_and_pause_after_429() -> None:
    clock = Clock()
    pacer = Pacer(chat_interval=0.0, global_per_second=30, clock=clock)
    for chat in range(30):
        pacer.record(str(chat))
    assert 0 < pacer.wait_time("999") <= 1.0
    clock.now += 1.0
    assert pacer.wait_time("999") == 0
    pacer.pause("5", 7)
    assert 6.9 < pacer.wait_time("5") <= 7
