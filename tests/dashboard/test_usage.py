"""The usage page and its selectors: compute seconds per day, task kind and key; the allowance left."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard import selectors
from dashboard.services import api_key_create
from inference.models import InferenceJob, JobStatus

pytestmark = pytest.mark.django_db


def _job(user, *, kind="emotion", key=None, compute_ms=1000, days_ago=0, status=JobStatus.SUCCEEDED):
    job = InferenceJob.objects.create(owner=user, api_key=key, task_kind=kind, model_id="tiny-emotion",
                                      input={"text": "x"}, status=status, compute_ms=compute_ms)
    InferenceJob.objects.filter(id=job.id).update(created_at=timezone.now() - timedelta(days=days_ago))
    return job


@pytest.fixture
def jobs(user, other_user, issued_key):
    key = issued_key.api_key
    _job(user, key=key, compute_ms=1500)
    _job(user, key=key, compute_ms=500)
    _job(user, kind="text-generation", key=None, compute_ms=4000)
    _job(user, kind="text-generation", key=None, compute_ms=None, status=JobStatus.QUEUED)
    _job(user, key=key, compute_ms=7000, days_ago=3)
    _job(user, key=key, compute_ms=9000, days_ago=45)  # outside the chart
    _job(other_user, compute_ms=99000)  # never counted for alice
    return key


def test_usage_by_day_covers_every_day_of_the_window(user, jobs):
    days = selectors.usage_by_day(user=user, days=30)
    assert len(days) == 30
    assert days[-1]["day"] == timezone.localdate()
    assert days[-1]["jobs"] == 4 and days[-1]["compute_seconds"] == pytest.approx(6.0)
    assert days[-4]["jobs"] == 1 and days[-4]["compute_seconds"] == pytest.approx(7.0)
    assert sum(day["jobs"] for day in days) == 5


def test_usage_by_kind_and_by_key(user, jobs):
    since = timezone.now() - timedelta(days=10)
    by_kind = {row["task_kind"]: row for row in selectors.usage_by_kind(user=user, since=since)}
    assert by_kind["emotion"]["jobs"] == 3 and by_kind["emotion"]["compute_seconds"] == pytest.approx(9.0)
    generation = by_kind["text-generation"]
    assert generation["jobs"] == 2 and generation["compute_seconds"] == pytest.approx(4.0)
    by_key = {row["name"]: row for row in selectors.usage_by_key(user=user, since=since)}
    assert by_key["test key"]["prefix"] == jobs.prefix and by_key["test key"]["jobs"] == 3
    assert by_key["sandbox"]["prefix"] == "" and by_key["sandbox"]["compute_seconds"] == pytest.approx(4.0)


def test_usage_page_shows_allowance_chart_and_tables(client, user, jobs, settings):
    settings.MONTHLY_COMPUTE_SECONDS = 100
    other = api_key_create(user=user, name="second key").api_key
    _job(user, kind="qa", key=other, compute_ms=250)
    client.force_login(user)
    response = client.get(reverse("dashboard:usage"))
    assert response.status_code == 200
    html = response.content.decode()
    month = response.context["month"]
    assert response.context["left"] == pytest.approx(100 - month["compute_seconds"])
    assert 'data-testid="usage-chart"' in html and html.count("<rect ") == 30
    assert "<script" not in html.split('data-testid="usage-chart"')[1].split("</svg>")[0]
    for text in ("test key", "second key", other.prefix, "sandbox", "emotion", "text-generation", "qa",
                 "compute seconds left"):
        assert text in html
    assert "99.0" not in html  # bob's job


def test_unlimited_allowance(client, user, settings):
    settings.MONTHLY_COMPUTE_SECONDS = 0
    client.force_login(user)
    response = client.get(reverse("dashboard:usage"))
    assert response.status_code == 200
    assert "unlimited" in response.content.decode()
    assert "No jobs this month." in response.content.decode()


def test_usage_page_needs_login(client):
    response = client.get(reverse("dashboard:usage"))
    assert response.status_code == 302


def test_tokens_of_chat_and_generation_per_day_and_kind(client, user):
    for kind, prompt, completion in (("chat", 30, 8), ("chat", 20, 5), ("text-generation", 4, 16)):
        job = _job(user, kind=kind, compute_ms=100)
        InferenceJob.objects.filter(id=job.id).update(prompt_tokens=prompt, completion_tokens=completion)
    _job(user, kind="emotion")  # no tokens
    today = selectors.usage_by_day(user=user, days=30)[-1]
    assert (today["prompt_tokens"], today["completion_tokens"], today["tokens"]) == (54, 29, 83)
    by_kind = {row["task_kind"]: row for row in selectors.usage_by_kind(user=user, since=selectors.month_start())}
    assert (by_kind["chat"]["prompt_tokens"], by_kind["chat"]["completion_tokens"]) == (50, 13)
    assert by_kind["emotion"]["tokens"] == 0
    client.force_login(user)
    html = client.get(reverse("dashboard:usage")).content.decode()
    assert 'data-testid="token-chart"' in html and "54 tokens read, 29 written" in html
    assert 'data-testid="prompt-tokens">54<' in html and 'data-testid="completion-tokens">29<' in html


def test_the_charts_first_and_last_day_labels_stay_inside_it(client, user, jobs):
    client.force_login(user)
    chart = client.get(reverse("dashboard:usage")).context["chart"]
    labelled = [bar for bar in chart["bars"] if bar["labelled"]]
    # "12-04" is about 30 units wide at font-size 10: centred on the first or last bar (10 units from the
    # edge) it was cut ("2-0"); anchored at the edges it is whole.
    assert (labelled[0]["anchor"], labelled[0]["label_x"]) == ("start", 0)
    assert (labelled[-1]["anchor"], labelled[-1]["label_x"]) == ("end", chart["width"])
    assert all(bar["anchor"] == "middle" for bar in labelled[1:-1])
