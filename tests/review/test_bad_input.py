"""Generated bad input to the review's forms: a clear answer, never a 500, nothing lost."""

from __future__ import annotations

from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.models import Example
from tests.factories import client_for

fields = st.dictionaries(
    st.sampled_from(
        [
            "lock",
            "n",
            "role_0",
            "content_0",
            "delete_0",
            "role_1",
            "content_1",
            "verdict",
            "reason",
            "text",
            "expected",
            "status",
            "min_tokens",
            "q",
            "at",
            "after",
            "before",
            "view",
            "reviewer",
        ]
    ),
    st.text(max_size=30).filter(lambda s: "\x00" not in s),
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(post=fields)
def test_garbage_posts_and_queries_never_fail_the_server(bob, in_review, post):
    client = client_for(bob)
    example = Example.objects.get(version=in_review.version, index=0)
    before = Example.objects.get(pk=example.pk).data
    for name in ("decide", "comment", "fix", "fix_check"):
        response = client.post(reverse(f"review:{name}", args=[example.id]), post)
        assert response.status_code in (200, 302, 409), (name, response.status_code)
    for url in (
        reverse("review:queue", args=[in_review.version_id]),
        reverse("review:bulk", args=[in_review.version_id]),
    ):
        assert client.get(url, post).status_code in (200, 302)
        assert client.post(reverse("review:bulk", args=[in_review.version_id]), post).status_code in (
            200,
            302,
        )
    after = Example.objects.get(pk=example.pk)
    assert after.data == before or after.lock > 0  # only a well-formed fix with the right lock changes it
