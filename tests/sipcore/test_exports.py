from __future__ import annotations

import sipcore


def test_all_names_exist_and_are_sorted() -> None:
    for name in sipcore.__all__:
        assert hasattr(sipcore, name), name
    assert sipcore.__all__ == sorted(sipcore.__all__, key=lambda n: (not n.isupper(), n))


def test_conformance_entry_points() -> None:
    assert callable(sipcore.parse_message)
    assert issubclass(sipcore.ParseError, sipcore.SipError)
    assert sipcore.ParseError("x").status_hint == 400
