"""fineweb.lib.jsonscript: every template's json_script gives what Django's filter gives (the same
values once parsed, the same escaping of what could end the script element), through orjson."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

from django.template import engines
from django.utils.html import json_script as django_json_script
from hypothesis import given
from hypothesis import strategies as st

from fineweb.lib.jsonscript import json_script

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.dates()
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)

BODY = re.compile(r'^<script id="x" type="application/json">(.*)</script>$', re.S)


def body(html: str) -> str:
    match = BODY.match(str(html))
    assert match, html
    return match.group(1)


@given(values)
def test_the_same_values_as_djangos_filter_once_parsed(value):
    ours, theirs = body(json_script(value, "x")), body(django_json_script(value, "x"))
    assert json.loads(ours) == json.loads(theirs)
    assert not re.search(r"[<>&]", ours)  # nothing in it can end the script element or start a tag


def test_templates_get_it_as_a_builtin_and_escape_a_closing_tag():
    template = engines["django"].from_string('{{ v|json_script:"x" }}')
    html = template.render({"v": {"text": "</script><script>alert(1)</script>", "n": Decimal("1.50")}})
    assert "</script><script>" not in body(html)
    assert json.loads(body(html)) == {"text": "</script><script>alert(1)</script>", "n": "1.50"}


def test_nan_becomes_null_where_the_standard_library_writes_invalid_json():
    assert json.loads(body(json_script({"loss": float("nan")}, "x"))) == {"loss": None}
