"""FanOut: subscribe once, emit to each in order, change while emitting."""

from __future__ import annotations

from decart_widgets.common.fanout import FanOut


def test_emit_reaches_each_subscriber_once_in_order():
    fan: FanOut = FanOut()
    got: list[tuple[str, int]] = []

    def a(x: int) -> None:
        got.append(("a", x))

    def b(x: int) -> None:
        got.append(("b", x))

    assert not fan
    fan.subscribe(a)
    fan.subscribe(b)
    fan.subscribe(a)  # once only
    fan.emit(1)
    assert got == [("a", 1), ("b", 1)] and len(fan) == 2
    assert fan.unsubscribe(a) and not fan.unsubscribe(a)
    fan.emit(2)
    assert got[-1] == ("b", 2) and list(fan) == [b]


def test_subscribers_may_change_the_fanout_while_it_emits():
    fan: FanOut = FanOut()
    calls: list[str] = []

    def first(_: object) -> None:
        calls.append("first")
        fan.unsubscribe(second)  # this emit still reaches it; the next does not
        fan.subscribe(third)

    def second(_: object) -> None:
        calls.append("second")

    def third(_: object) -> None:
        calls.append("third")

    for s in (first, second):
        fan.subscribe(s)
    fan.emit(None)
    assert calls == ["first", "second"]
    fan.emit(None)
    assert calls == ["first", "second", "first", "third"]
    assert fan.remove_where(lambda s: s is third) == [third]
    assert fan.clear() == (first,) and not fan
