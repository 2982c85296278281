"""poll_until: the value that ended the wait, the caller's timeout error, errors from the check."""

import pytest

from exchange.waiting import poll_until


class Late(Exception):
    pass


def test_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", {"id": 7}, "never asked"])
    assert poll_until(lambda: next(answers), timeout=5, interval=0, on_timeout=Late) == {"id": 7}


def test_raises_the_callers_error_after_the_timeout_having_asked_more_than_once():
    asked = []
    with pytest.raises(Late, match="gave up"):
        poll_until(lambda: asked.append(1), timeout=0.05, interval=0.01, on_timeout=lambda: Late("gave up"))
    assert len(asked) >= 2


def test_an_error_from_the_check_ends_the_wait_at_once():
    def check():
        raise ValueError("rejected")

    with pytest.raises(ValueError, match="rejected"):
        poll_until(check, timeout=60, on_timeout=Late)


def test_a_zero_timeout_still_asks_once():
    assert poll_until(lambda: "ready", timeout=0, on_timeout=Late) == "ready"
