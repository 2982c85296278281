"""exchange.border: the shared border checks every HTTP server uses."""

from __future__ import annotations

import sys
import threading

import pytest

from exchange.border import BorderError, check_base_url, check_int, check_text, parse_json


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 50_000 + b"1",
                                  b"[" * 65 + b"]" * 65])
def test_deep_json_is_refused_in_a_thread_even_with_a_raised_recursion_limit(body):
    """py-evm raises the recursion limit; json.loads 100,000 levels deep in a server thread then
    crashed the process instead of raising RecursionError."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    out = []

    def parse():
        try:
            parse_json(body)
        except BorderError as exc:
            out.append(exc)

    try:
        th = threading.Thread(target=parse)
        th.start()
        th.join()
    finally:
        sys.setrecursionlimit(old)
    assert len(out) == 1 and out[0].status == 400 and "JSON" in out[0].reason


@pytest.mark.parametrize("body", [b'[[["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]]]',
                                  b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}'])
def test_brackets_inside_strings_do_not_count_as_nesting(body):
    parse_json(body)


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b"\xff", b"", b"{", b"[1,]"])
def test_what_is_not_strict_json_is_a_400(body):
    with pytest.raises(BorderError) as exc:
        parse_json(body)
    assert exc.value.status == 400


@pytest.mark.parametrize("text", ["a\x00b", "\x1f", "x\x7f", "\ud800"])
def test_text_with_nul_control_or_surrogates_is_refused(text):
    with pytest.raises(BorderError):
        check_text(text, "tag")


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.0, "1"])
def test_integers_outside_a_bigint_column_or_of_another_type_are_refused(value):
    with pytest.raises(BorderError):
        check_int(value, "n")


@pytest.mark.parametrize(("url", "norm"), [("http://a.b:80/", "http://a.b:80"), ("https://[::1]:9", "https://[::1]:9"),
                                           ("http://127.0.0.1", "http://127.0.0.1")])
def test_base_urls_urllib_can_use_are_accepted(url, norm):
    assert check_base_url(url) == norm
