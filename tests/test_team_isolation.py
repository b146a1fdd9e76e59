"""Every URL pattern, requested by charlie with ids of alice's team, is a 404.

The crawl walks the URL configuration itself, so a new pattern is covered the day it is added:
a pattern with a parameter that has no factory in tests/factories.py (FACTORIES) fails the test
until one is written.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import FACTORIES, build_world

# Namespaces outside the team model: Django's admin (staff only) and the local provider's API
# (behind bearer keys, one per team, not logins: its scopes are tested in tests/localtuner/test_api_scopes.py).
SKIPPED_NAMESPACES = {"admin", "localtuner"}


def walk(patterns, namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns in SKIPPED_NAMESPACES:
                continue
            yield from walk(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            params = list(entry.pattern.converters) if hasattr(entry.pattern, "converters") else []
            if not params and hasattr(entry.pattern, "regex"):
                params = list(entry.pattern.regex.groupindex)
            if params:
                yield (f"{namespace}:{entry.name}" if namespace else entry.name), params


PATTERNS = sorted({(name, tuple(params)) for name, params in walk(get_resolver().url_patterns)})


def test_every_parameterised_pattern_has_a_factory():
    missing = sorted({p for _, params in PATTERNS for p in params if p not in FACTORIES})
    assert missing == [], f"add a factory for {missing} in tests/test_team_isolation.py"


@pytest.mark.parametrize(("name", "params"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_an_outsider_gets_404_for_another_teams_objects(
    name, params, alice, team, alice_client, charlie_client
):
    world = build_world(team, alice)
    kwargs = {p: FACTORIES[p](world) for p in params}
    url = reverse(name, kwargs=kwargs)
    owner_get = alice_client.get(url)
    assert owner_get.status_code != 404, f"{url} is a 404 for its own team: the factory is wrong"
    get = charlie_client.get(url)
    post = charlie_client.post(url)
    assert get.status_code in (404, 405) and post.status_code in (404, 405), (
        url,
        get.status_code,
        post.status_code,
    )
    assert 404 in (get.status_code, post.status_code), url
