"""The compare pages: the playground form (from a job, with its held-out prompts; bad input), the
conversation screen, blind order and reveal, votes, the leaked-identity rule, history, leaderboard."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compare import services
from compare.models import Conversation, Reply, Vote
from jobs.models import Job
from providers.models import Connection
from tests.factories import make_connection, make_job, make_version

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def local(team):
    return Connection.objects.get(team=team, kind="local")


@pytest.fixture
def openai(team):
    return make_connection(team, kind="openai", name="OpenAI")


def blind(team, alice, local, openai, *, a="fineweb-tiny", b="ft:gpt-4o-mini-2024-07-18:acme::x1"):
    return services.conversation_create(
        team=team,
        user=alice,
        columns=[
            services.ColumnSpec(connection=local, model=a),
            services.ColumnSpec(connection=openai, model=b),
        ],
        message="Write a haiku.",
        blind=True,
    )


def complete(conversation, texts=("An old silent pond", "A frog jumps in")):
    for reply, text in zip(
        Reply.objects.filter(turn__conversation=conversation).order_by("column__position"), texts, strict=True
    ):
        reply.status, reply.text = Reply.Status.COMPLETE, text
        reply.save()


def test_the_playground_offers_the_local_models_and_every_jobs_models(team, alice_client, local):
    version = make_version(team)
    make_job(team, version, local, base_model="fineweb-tiny", fine_tuned_model="ft:fineweb-tiny:colors:abc")
    page = alice_client.get(reverse("compare:playground")).content.decode()
    assert f'value="{local.id}:fineweb-tiny"' in page
    assert f'value="{local.id}:ft:fineweb-tiny:colors:abc"' in page


def test_from_a_job_the_base_and_fine_tuned_models_are_picked_and_held_out_prompts_offered(
    team, alice_client, local
):
    lines = [
        {
            "messages": [
                {"role": "system", "content": "Antworte immer auf Deutsch."},
                {"role": "user", "content": f"Question {i} {SCRIPT}"},
                {"role": "assistant", "content": f"Antwort {i}"},
            ]
        }
        for i in range(12)
    ]
    version = make_version(team, split=True, lines=lines)
    job = make_job(team, version, local, base_model="fineweb-tiny", fine_tuned_model="ft:fineweb-tiny:de:1")
    page = alice_client.get(f"/compare/?model={job.fine_tuned_model}&job={job.id}").content.decode()
    assert f'<option value="{local.id}:fineweb-tiny" selected>' in page
    assert f'<option value="{local.id}:ft:fineweb-tiny:de:1 (fine-tuned)"' not in page
    assert f'<option value="{local.id}:ft:fineweb-tiny:de:1" selected>' in page
    # The two held-out examples (the last two lines) are offered, escaped, as data for the script.
    assert 'id="held-out-prompts"' in page and "Question 11" in page and "Question 9" not in page
    assert SCRIPT not in page and "Antworte immer auf Deutsch." in page


def test_a_job_without_a_validation_split_offers_no_prompt_menu(team, alice_client, local):
    job = make_job(team, make_version(team), local, base_model="fineweb-tiny", fine_tuned_model="ft:x")
    assert 'id="held-out"' not in alice_client.get(f"/compare/?job={job.id}").content.decode()


def test_another_teams_job_is_a_404_on_the_playground(team, charlie_client, local):
    job = make_job(team, make_version(team), local, base_model="fineweb-tiny")
    assert charlie_client.get(f"/compare/?job={job.id}").status_code == 404


def test_posting_the_form_starts_a_conversation_with_its_settings(team, alice_client, local):
    response = alice_client.post(
        reverse("compare:playground"),
        {
            "message": "Hallo",
            "model_0": f"{local.id}:fineweb-tiny",
            "system_0": "A long prompt " * 10,
            "model_1": f"{local.id}:fineweb-tiny",
            "system_1": "Short.",
            "temperature": "0.7",
            "max_tokens": "64",
            "seed": "5",
        },
    )
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/compare/{conversation.id}/"
    assert (conversation.temperature, conversation.max_tokens, conversation.seed) == (0.7, 64, 5)
    assert [c.system_prompt for c in conversation.columns.all()] == ["A long prompt " * 10, "Short."]
    page = alice_client.get(response["Location"]).content.decode()
    assert page.count('data-reply="') == 2 and 'id="compare-streams"' in page


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"message": "", "model_0": "M", "model_1": "M"}, "Write a message to send to the models."),
        ({"message": "hi", "model_0": "M"}, "Pick at least two models to compare."),
        ({"message": "hi", "model_0": "nonsense", "model_1": "M"}, "not one fineweb offered"),
        (
            {"message": "hi", "model_0": "M", "model_1": "M", "model_2": "M", "blind": "on"},
            "exactly two models",
        ),
        ({"message": "hi", "model_0": "M", "model_1": "M", "temperature": "9"}, "less than or equal to 2"),
    ],
)
def test_bad_input_is_a_400_with_a_sentence_and_creates_nothing(team, alice_client, local, data, sentence):
    data = {k: (f"{local.id}:fineweb-tiny" if v == "M" else v) for k, v in data.items()}
    response = alice_client.post(reverse("compare:playground"), {"max_tokens": "64", **data})
    assert response.status_code == 400
    assert sentence in response.content.decode()
    assert not Conversation.objects.exists()


def test_a_model_on_another_teams_connection_is_refused(team, alice_client, local, charlie):
    foreign = Connection.objects.get(team=charlie.memberships.get().team, kind="local")
    response = alice_client.post(
        reverse("compare:playground"),
        {
            "message": "hi",
            "max_tokens": "64",
            "model_0": f"{local.id}:fineweb-tiny",
            "model_1": f"{foreign.id}:x",
        },
    )
    assert response.status_code == 400 and "not on your team" in response.content.decode()
    assert not Conversation.objects.exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.text(max_size=60),
    temperature=st.text(max_size=8),
    max_tokens=st.text(max_size=8),
    message=st.text(max_size=40),
)
def test_generated_bad_form_input_never_gives_a_500(
    team, alice_client, local, model, temperature, max_tokens, message
):
    response = alice_client.post(
        reverse("compare:playground"),
        {
            "message": message,
            "model_0": model,
            "model_1": f"{local.id}:fineweb-tiny",
            "temperature": temperature,
            "max_tokens": max_tokens,
        },
    )
    assert response.status_code in (302, 400)


def test_the_blind_order_is_drawn_on_the_server(team, alice, local, openai):
    firsts = {blind(team, alice, local, openai).columns.get(position=0).model for _ in range(40)}
    assert firsts == {"fineweb-tiny", "ft:gpt-4o-mini-2024-07-18:acme::x1"}  # both orders occur


def test_a_blind_screen_hides_the_names_until_the_vote_then_reveals_them(
    team, alice, alice_client, local, openai
):
    conversation = blind(team, alice, local, openai)
    complete(conversation)
    url = reverse("compare:detail", args=[conversation.id])
    page = alice_client.get(url).content.decode()
    assert "fineweb-tiny" not in page and "gpt-4o-mini" not in page and "OpenAI" not in page
    assert "Model A" in page and "Model B" in page
    assert "retired on" not in page
    history = alice_client.get(reverse("compare:history")).content.decode()
    assert "gpt-4o-mini" not in history and "hidden until a vote" in history
    response = alice_client.post(
        reverse("compare:vote", args=[conversation.id]), {"outcome": "a"}, follow=True
    )
    page = response.content.decode()
    assert "fineweb-tiny" in page and "ft:gpt-4o-mini-2024-07-18:acme::x1" in page
    assert "You voted: <strong>A is better</strong>" in page
    # The OpenAI fine-tune's column says when OpenAI stops serving it (issue 13: the compare screen
    # says when a model in it is retired); the local model's says nothing. Not before the vote.
    assert "is retired on 14 January 2027" in page
    assert page.count('data-testid="retirement-') == 1
    vote = Vote.objects.get()
    a, b = conversation.columns.order_by("position")
    assert (vote.model_a, vote.model_b, vote.outcome, vote.leaked) == (
        a.model_label,
        b.model_label,
        "a",
        False,
    )


def test_a_vote_before_both_replies_are_complete_is_refused(team, alice, alice_client, local, openai):
    conversation = blind(team, alice, local, openai)
    first = Reply.objects.filter(turn__conversation=conversation).order_by("column__position").first()
    assert first is not None
    Reply.objects.filter(id=first.id).update(status=Reply.Status.COMPLETE, text="done")
    page = alice_client.get(reverse("compare:detail", args=[conversation.id])).content.decode()
    assert page.count("data-vote disabled") == 4
    response = alice_client.post(
        reverse("compare:vote", args=[conversation.id]), {"outcome": "b"}, follow=True
    )
    assert "Vote once both replies are complete." in response.content.decode()
    assert not Vote.objects.exists()
    assert "fineweb-tiny" not in response.content.decode()  # still hidden


def test_a_failed_reply_cannot_be_voted_on(team, alice, local, openai):
    conversation = blind(team, alice, local, openai)
    complete(conversation)
    Reply.objects.filter(turn__conversation=conversation).update(status=Reply.Status.FAILED)
    with pytest.raises(services.ValidationError):
        services.vote_cast(conversation=conversation, user=alice, outcome="tie")


def test_one_vote_per_member_and_a_nonsense_outcome_is_refused(team, alice, bob, alice_client, local, openai):
    conversation = blind(team, alice, local, openai)
    complete(conversation)
    assert (
        alice_client.post(reverse("compare:vote", args=[conversation.id]), {"outcome": "nope"}).status_code
        == 303
    )
    assert not Vote.objects.exists()
    services.vote_cast(conversation=conversation, user=alice, outcome="tie")
    with pytest.raises(services.ValidationError):
        services.vote_cast(conversation=conversation, user=alice, outcome="a")
    services.vote_cast(conversation=conversation, user=bob, outcome="b")  # a colleague votes too
    assert Vote.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("As an OpenAI model I cannot write haiku.", True),
        ("I am GPT-4o, here is a haiku.", True),
        ("Ich bin SmolLM2, ein kleines Modell.", True),
        ("This is ft:gpt-4o-mini-2024-07-18:acme::x1 speaking.", True),
        ("i am fineweb-tiny", True),
        ("Let us write it together, with a graphic touch.", False),
        ("An old silent pond", False),
    ],
)
def test_a_reply_naming_its_model_or_provider_marks_the_vote_leaked(team, alice, local, openai, text, leaked):
    conversation = blind(team, alice, local, openai)
    complete(conversation, texts=(text, "A frog jumps in"))
    vote = services.vote_cast(conversation=conversation, user=alice, outcome="a")
    assert vote.leaked is leaked
    if leaked:
        assert "names" in vote.leaked_reason


def test_the_leaderboard_counts_votes_by_hand_and_leaves_leaked_ones_out(
    team, alice, bob, alice_client, local, openai
):
    # fineweb-tiny against the fine-tune: 2 wins, 1 loss, 1 tie counted; 1 leaked vote left out.
    outcomes = [("tiny", "tiny"), ("tiny", "tiny"), ("ft", "ft"), ("tie", "tie")]
    for who, _ in outcomes:
        conversation = blind(team, alice, local, openai)
        complete(conversation)
        a = conversation.columns.get(position=0)
        tiny_is_a = a.model == "fineweb-tiny"
        outcome = {"tiny": "a" if tiny_is_a else "b", "ft": "b" if tiny_is_a else "a", "tie": "tie"}[who]
        services.vote_cast(conversation=conversation, user=alice, outcome=outcome)
    leaky = blind(team, alice, local, openai)
    complete(leaky, texts=("I am GPT.", "I am GPT too."))
    services.vote_cast(conversation=leaky, user=bob, outcome="a")
    page = alice_client.get(reverse("compare:leaderboard")).content.decode()
    assert "4 votes counted, 1 left out because a reply named its model or provider" in page
    tiny = f"fineweb-tiny ({local.name})"
    row = page.split(f"<tr><td><code>{tiny}</code></td><td><code>")[1].split("</tr>")[0]
    cells = [c.split("<")[0] for c in row.split('<td class="num">')[1:]]
    # wins, losses, ties, both bad, win rate (a tie is half a win: 2.5 / 4)
    assert cells[:5] == ["2", "1", "1", "0", "62%"]
    # Bradley-Terry from the same four votes: fineweb-tiny is rated first, on the arenas' scale
    # around 1000, each score inside its own bootstrap interval.
    ratings = page.split('data-testid="ratings"')[1].split("</table>")[0]
    first = ratings.split("<tbody><tr><td>1</td><td><code>")[1]
    assert first.startswith(tiny)
    score, low, high = (
        int(x)
        for x in [
            first.split('class="num">')[1].split("<")[0],
            *first.split('class="num">')[2].split("<")[0].split(" – "),
        ]
    )
    assert low <= score <= high and score > 1000


def test_user_content_is_escaped_on_every_compare_page(team, alice, alice_client, local):
    conversation = services.conversation_create(
        team=team,
        user=alice,
        columns=[
            services.ColumnSpec(connection=local, model="fineweb-tiny", system_prompt=SCRIPT),
            services.ColumnSpec(connection=local, model="fineweb-tiny"),
        ],
        message=f"Say {SCRIPT}",
    )
    Reply.objects.filter(turn__conversation=conversation).update(
        status=Reply.Status.FAILED, text=SCRIPT, error="x"
    )
    for url in (
        reverse("compare:detail", args=[conversation.id]),
        reverse("compare:history"),
        f"/compare/?rerun={conversation.id}",
    ):
        page = alice_client.get(url).content.decode()
        assert SCRIPT not in page and "&lt;script&gt;" in page, url


def test_history_lists_who_when_models_and_settings_and_a_rerun_is_prefilled(
    team, alice, alice_client, local
):
    conversation = services.conversation_create(
        team=team,
        user=alice,
        columns=[
            services.ColumnSpec(connection=local, model="fineweb-tiny", system_prompt="Long prompt"),
            services.ColumnSpec(connection=local, model="fineweb-tiny", system_prompt="Short"),
        ],
        message="Wie spät ist es?",
        temperature=0.3,
        max_tokens=77,
        seed=9,
    )
    page = alice_client.get(reverse("compare:history")).content.decode()
    assert "Wie spät ist es?" in page and "alice" in page and "<code>fineweb-tiny</code>" in page
    assert "temperature 0.3, max tokens 77, seed 9" in page
    rerun = alice_client.get(f"/compare/?rerun={conversation.id}").content.decode()
    assert (
        "Wie spät ist es?</textarea>" in rerun and "Long prompt</textarea>" in rerun and 'value="77"' in rerun
    )


def test_an_outsider_gets_404_for_a_conversation_its_stream_and_its_vote(
    team, alice, charlie_client, local, openai
):
    conversation = blind(team, alice, local, openai)
    complete(conversation)
    reply = Reply.objects.filter(turn__conversation=conversation).earliest("id")
    assert charlie_client.get(reverse("compare:detail", args=[conversation.id])).status_code == 404
    stream = reverse("compare:stream", kwargs={"conversation_id": conversation.id, "reply_id": reply.id})
    assert charlie_client.get(stream).status_code == 404
    assert (
        charlie_client.post(reverse("compare:vote", args=[conversation.id]), {"outcome": "a"}).status_code
        == 404
    )
    assert charlie_client.post(reverse("compare:stop", args=[conversation.id])).status_code == 404
    assert not Vote.objects.exists()
    assert "Write a haiku." not in charlie_client.get(reverse("compare:history")).content.decode()


def test_a_reply_id_of_another_conversation_is_a_404(team, alice, alice_client, local, openai):
    one, other = blind(team, alice, local, openai), blind(team, alice, local, openai)
    reply = Reply.objects.filter(turn__conversation=other).earliest("id")
    url = reverse("compare:stream", kwargs={"conversation_id": one.id, "reply_id": reply.id})
    assert alice_client.get(url).status_code == 404


def test_the_job_pages_compare_button_opens_the_playground_with_the_jobs_models(team, alice_client, local):
    job = make_job(
        team,
        make_version(team),
        local,
        base_model="fineweb-tiny",
        fine_tuned_model="ft:fineweb-tiny:a:1",
        status=Job.Status.SUCCEEDED,
    )
    job_page = alice_client.get(reverse("jobs:detail", args=[job.id])).content.decode()
    href = job_page.split("Compare with the base model")[0].rsplit('href="', 1)[1].split('"')[0]
    page = alice_client.get(href.replace("&amp;", "&"))
    assert page.status_code == 200
    assert f'<option value="{local.id}:ft:fineweb-tiny:a:1" selected>' in page.content.decode()
