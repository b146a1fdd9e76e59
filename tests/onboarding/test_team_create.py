from datasets_app.models import Dataset
from fineweb.accounts.models import Membership
from fineweb.accounts.services import user_create
from localtuner.models import LocalApiKey
from onboarding.services import team_create
from providers.models import Connection


def test_a_new_team_has_its_owner_and_the_built_in_local_provider_with_a_key_of_its_own(db):
    owner = user_create(username="dora", password="a long enough password")

    team = team_create(name="Dora's team", owner=owner)

    assert team.memberships.get().user == owner
    assert team.memberships.get().role == Membership.Role.OWNER
    connection = Connection.objects.get(team=team)
    assert connection.is_local and connection.api_key_encrypted
    assert LocalApiKey.objects.filter(team_id=team.id).count() == 1
    assert not Dataset.objects.filter(team=team).exists(), "only the demo team gets the sample"


def test_the_demo_team_also_gets_the_sample_dataset_uploaded_by_its_owner(db):
    owner = user_create(username="owner", password="a long enough password")

    team = team_create(name="Demo team", owner=owner, with_demo_data=True)

    dataset = Dataset.objects.get(team=team)
    version = dataset.latest_version
    assert dataset.created_by == owner and version is not None and version.status == "valid"
    assert Connection.objects.get(team=team).is_local
