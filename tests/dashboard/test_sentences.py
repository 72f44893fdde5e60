"""The activity feed reads as sentences: the formatter registry, its fallback, and the rendered feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsportal.dashboard.sentences import event_sentence, fallback_sentence, registered_types, sentence_for

ROOT = Path(__file__).resolve().parents[2]


def ev(event_type: str, data=None, aggregate=None) -> dict:
    return {"id": "x", "type": event_type, "at": "2026-01-01T12:00:00+00:00", "data": data, "aggregate": aggregate or {}}


@pytest.mark.parametrize(
    ("event_type", "data", "sentence"),
    [
        ("webhook.source_created", {"slug": "demo", "scheme": "standard"}, "Webhook source demo created"),
        ("webhook.destination_created", {"name": "demo-receiver", "enabled": False},
         "Webhook destination demo-receiver created (disabled)"),
        ("catalog.service_created", {"name": "payments-api", "team": "payments"},
         "Service payments-api added to the catalog for team payments"),
        ("catalog.service_updated", {"name": "search", "changes": {"tier": [2, 3], "team": ["a", "b"]}},
         "Service search updated (team, tier)"),
        ("catalog.service_deleted", {"name": "search"}, "Service search deleted"),
        ("breaker.opened", {"name": "payments-api"}, "Breaker payments-api opened"),
        ("breaker.half_opened", {"name": "payments-api"}, "Breaker payments-api half-open (probing)"),
        ("dlq.added", {"count": 4, "destination": "demo-receiver"}, "4 deliveries dead-lettered for demo-receiver"),
        ("dlq.retried", {"count": 1, "source": "admin"}, "1 DLQ item retried from the admin"),
        ("dlq.discarded", {"count": 2, "reason": "duplicate"}, "2 DLQ items discarded: duplicate"),
        ("token.issued", {"service": "alertmanager", "prefix": "a35b93f2", "scopes": ["alerts:write"]},
         "Token a35b93f2 issued for alertmanager (alerts:write)"),
        ("auth.user_created", {"username": "operator", "roles": ["operator"]}, "User operator created (operator)"),
        ("auth.login_failed", {"username": "mallory"}, "mallory failed to sign in"),
        ("audit.exported", {"actor": "audrey", "filters": {}}, "Audit trail exported by audrey"),
        ("incident.root_cause_hinted", {"number": 16, "title": "Breaker open: shop",
                                        "root_cause_hint": "root-cause hint: chaos drill 'd' (#6) run #2 injected x"},
         "Incident #16 Breaker open: shop: root-cause hint: chaos drill 'd' (#6) run #2 injected x"),
    ],
)
def test_known_events_read_as_sentences(event_type, data, sentence):
    assert event_sentence(ev(event_type, data)) == sentence


def test_an_unknown_event_falls_back_to_its_type_and_name():
    assert event_sentence(ev("incident.severity_raised", {"title": "Checkout slow"})) == "Incident severity Checkout slow raised"
    assert event_sentence(ev("alert.fired", {}, {"type": "alerts.alert", "id": "7"})) == "Alert 7 fired"
    assert fallback_sentence("runbook.step_completed", {"name": "restart"}) == "Runbook step restart completed"


@pytest.mark.parametrize("data", [None, [], "text", {"name": None}, {"count": "many"}, {"changes": "all"}])
def test_odd_data_never_breaks_the_feed(data):
    for event_type in sorted(registered_types()) + ["", "x"]:
        text = event_sentence(ev(event_type, data))
        assert isinstance(text, str) and text and len(text) <= 200


def test_a_failing_formatter_falls_back_instead_of_raising(monkeypatch):
    from opsportal.dashboard import sentences

    monkeypatch.setattr(sentences, "_formatters", dict(sentences._formatters))  # registered for this test only

    @sentence_for("test.formatter_broken")
    def _broken(data, event_type):
        raise KeyError("nope")

    assert event_sentence(ev("test.formatter_broken", {"name": "n"})) == "Test formatter n broken"


def test_every_event_type_the_code_emits_reads_better_than_its_raw_name():
    """Each registered event type (apps' names.py) gets a sentence: not the raw type nor the old 'a.b c.d 1' form."""
    from opsportal.common.names import registry

    emitted = set(registry().events)
    assert len(emitted) >= 15, emitted
    for event_type in emitted:
        text = event_sentence(ev(event_type, {"name": "thing", "slug": "thing", "username": "thing", "count": 2}))
        assert event_type not in text and "_" not in text.replace("thing", ""), (event_type, text)
        assert text[0].isupper() or text[0].isdigit() or text.startswith("thing"), (event_type, text)


@pytest.mark.django_db
def test_the_ops_feed_renders_sentences_not_raw_names(client, operator):
    from audit.actors import Actor
    from opsportal.catalog.services import service_create

    service_create(name="payments-api", team="payments", tier=0, actor=Actor.for_system("test"), source="test")
    client.force_login(operator)
    html = client.get("/ops/").content.decode()
    assert '<span class="ops-text">Service payments-api added to the catalog for team payments</span>' in html
    assert "catalog.service 1<" not in html  # the old "type aggregate id" rendering
