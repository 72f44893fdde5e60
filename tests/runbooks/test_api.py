"""/api/v1/runbooks/: CRUD by slug, scopes and roles, validation naming the field, match/, and an inert XSS corpus."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from audit.models import AuditEntry
from runbooks.models import Runbook, RunbookVersion

from .conftest import body

pytestmark = pytest.mark.django_db
URL = "/api/v1/runbooks/"

XSS = [
    "<script>alert('s1')</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src="x" onerror="alert(\'s2\')">',
    "<body onload=alert('s3')>",
    "[click](javascript:alert('s4'))",
    "[mixed](JaVaScRiPt:alert('s5'))",
    '<a href="JaVaScRiPt:alert(\'s6\')">raw mixed</a>',
    '<a href="java&#x09;script:alert(\'s7\')">tab entity</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
    "![pixel](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<svg><script>alert('s8')</script><circle onload=\"alert('s9')\"/></svg>",
    '<svg/onload=alert("s10")>',
    '<iframe src="https://evil.example/"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<p style="background:url(javascript:alert(\'s11\'))">styled</p>',
    '<div style="width: expression(alert(\'s12\'))">expr</div>',
    "<style>body{background:url(javascript:alert('s13'))}</style>",
    "&lt;script&gt;alert('s14')&lt;/script&gt;",
    "<object data=\"x.swf\"></object><embed src=\"x.swf\"><form action=\"https://evil.example\"><input name=q></form>",
    '<math><mtext><table><mglyph><style><img src=x onerror=alert("s15")></style></mglyph></table></mtext></math>',
    '<a href="https://example.com/" onclick="alert(\'s16\')">ok link</a>',
]
GOOD = "\n\n| Check | Command |\n|---|---|\n| depth | `llen celery` |\n\n- one\n- two\n\n```\nwebhooks_retry --since 1h\n```\n"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes = set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]


def _parse(html: str):
    collector = _Collector()
    collector.feed("<div " + html)  # the slice starts inside the article's opening tag
    return collector.tags, collector.attributes


def _payload(**extra):
    return {"title": "Queue overload", "slug": "queue-overload", "body": body(), "status": "published",
            "matchers": [{"label": "alertname", "op": "=", "value": "QueueOverload"}], **extra}


def test_xss_corpus_stored_through_the_api_renders_inert(user_client, operator, support_nonstaff):
    text = body(GOOD + "\n\n" + "\n\n".join(XSS))  # (an unclosed <body> turns what follows into raw text)
    response = user_client(operator).post(URL, _payload(body=text), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["body"] == text  # stored as written; made safe when rendered
    html = user_client(support_nonstaff).get("/ops/runbooks/queue-overload/").content.decode()
    article = html[html.index('data-testid="runbook-body"'):html.index("</article>")]
    tags, attributes = _parse(article)
    assert tags <= {"div", "h1", "h2", "p", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "code", "pre",
                    "ul", "ol", "li"}, tags
    for tag, name, value in attributes:
        assert not name.startswith("on") and name not in ("style", "srcdoc"), (tag, name)
        if name in ("href", "src"):
            assert value.split(":", 1)[0].lower().strip() in ("http", "https", "mailto") or ":" not in value, value
    lowered = article.lower()
    for needle in ("<script", "<iframe", "<svg", "<style", "<object", "<embed", "<form", "<math", "<body", "<input"):
        assert needle not in lowered, needle
    assert "&lt;script&gt;alert(" in article  # the pre-escaped entities stay text
    assert '<a href="https://example.com/" rel="noopener noreferrer nofollow">ok link</a>' in article
    assert "<table>" in article and "<td><code>llen celery</code></td>" in article
    assert "<li>one</li>" in article and "<pre><code>webhooks_retry --since 1h\n</code></pre>" in article
    assert '<h2 id="rb-symptoms">Symptoms</h2>' in article
    assert '<a href="#rb-resolution">Resolution</a>' in html  # the table of contents


def test_crud_by_slug_with_versions(user_client, operator):
    client = user_client(operator)
    created = client.post(URL, _payload(service=None, severity="P1", review_interval_days=30), format="json")
    assert created.status_code == 201
    data = created.json()
    assert {k: data[k] for k in ("slug", "version", "severity", "overdue", "review", "status")} == {
        "slug": "queue-overload", "version": 1, "severity": "P1", "overdue": False, "review": "ok", "status": "published"}
    assert data["url"] == "http://testserver/ops/runbooks/queue-overload/"
    patched = client.patch(f"{URL}queue-overload/", {"body": body("\nNew step.\n"), "change_note": "add"}, format="json")
    assert patched.status_code == 200 and patched.json()["version"] == 2
    assert RunbookVersion.objects.filter(runbook__slug="queue-overload").count() == 2
    assert client.get(f"{URL}queue-overload/").json()["body"].endswith("New step.\n")
    assert [r["slug"] for r in client.get(URL).json()["results"]] == ["queue-overload"]
    assert client.get(URL, {"status": "draft"}).json()["results"] == []
    assert client.patch(f"{URL}queue-overload/", {"slug": "other"}, format="json").status_code == 400
    assert client.delete(f"{URL}queue-overload/").status_code == 204
    assert Runbook.objects.get(slug="queue-overload").status == "archived"  # archived, history kept
    actions = list(AuditEntry.objects.filter(target_type="runbooks.runbook").order_by("id").values_list("action", flat=True))
    assert actions == ["runbook.create", "runbook.update", "runbook.archive"]


def test_a_missing_section_is_a_400_naming_the_body_field(user_client, operator):
    response = user_client(operator).post(URL, _payload(body=body().replace("## Rollback", "## Undo")), format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"]["body"] == ["missing required section(s): Rollback"]


@pytest.mark.parametrize("matchers", [
    "nope", [{"label": "1bad", "op": "=", "value": "x"}], [{"label": "a", "op": "~", "value": "x"}],
    [{"label": "a", "op": "=~", "value": "(["}], [{"label": "a", "op": "=", "value": "x", "extra": 1}],
])
def test_bad_matchers_are_a_400_naming_the_field(user_client, operator, matchers):
    response = user_client(operator).post(URL, _payload(matchers=matchers), format="json")
    assert response.status_code == 400 and "matchers" in response.json()["errors"]


def test_duplicate_slug_is_a_400(user_client, operator):
    client = user_client(operator)
    assert client.post(URL, _payload(), format="json").status_code == 201
    response = client.post(URL, _payload(), format="json")
    assert response.status_code == 400 and "slug" in response.json()["errors"]


def test_read_tokens_read_but_cannot_write(token_client, make_runbook):
    make_runbook()
    reader = token_client("read")
    assert reader.get(URL).status_code == 200
    assert reader.get(f"{URL}queue-overload/").json()["version"] == 1
    assert reader.post(URL, _payload(slug="x"), format="json").status_code == 403
    assert reader.patch(f"{URL}queue-overload/", {"title": "Y"}, format="json").status_code == 403
    assert reader.delete(f"{URL}queue-overload/").status_code == 403
    writer = token_client("runbooks:write")
    response = writer.post(URL, _payload(slug="written-by-token"), format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="runbook.create", target_repr="Queue overload", actor_kind="token")
    assert entry.actor_label.startswith("token:integration/")


def test_support_reads_but_gets_403_on_the_write_api(user_client, support_nonstaff, make_runbook):
    make_runbook()
    client = user_client(support_nonstaff)
    assert client.get(f"{URL}queue-overload/").status_code == 200
    assert client.post(URL, _payload(slug="x"), format="json").status_code == 403
    assert client.patch(f"{URL}queue-overload/", {"title": "Y"}, format="json").status_code == 403
    assert client.delete(f"{URL}queue-overload/").status_code == 403
    assert Runbook.objects.get(slug="queue-overload").title == "Queue Overload"


def test_anonymous_gets_401_or_403(api_client):
    assert api_client.get(URL).status_code in (401, 403)


def test_match_endpoint(token_client, make_runbook):
    make_runbook("any-queue", matchers=[{"label": "alertname", "op": "=", "value": "QueueOverload"}])
    make_runbook("prod-queue", matchers=[{"label": "alertname", "op": "=", "value": "QueueOverload"},
                                         {"label": "env", "op": "=~", "value": "prod|live"}])
    reader = token_client("read")
    found = reader.get(f"{URL}match/", {"alertname": "QueueOverload", "env": "prod"})
    assert found.status_code == 200 and [r["slug"] for r in found.json()] == ["prod-queue", "any-queue"]
    assert [r["slug"] for r in reader.get(f"{URL}match/", {"alertname": "Other"}).json()] == []


def test_openapi_documents_the_runbook_endpoints(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/v1/runbooks/", "/api/v1/runbooks/{slug}/", "/api/v1/runbooks/match/"} <= set(schema["paths"])
    props = schema["components"]["schemas"]["Runbook"]["properties"]
    assert {"slug", "title", "service", "body", "matchers", "status", "owner", "severity", "review_interval_days",
            "version", "overdue"} <= set(props)


@pytest.mark.parametrize("payload", [
    {"title": "x", "body": 5}, {"title": "x", "body": None}, {"title": ["x"], "body": "y"},
    {"title": "x\x00", "body": "y"}, {"title": "x", "slug": "bad slug!", "body": body()},
    {"title": "x", "body": body(), "review_interval_days": -1}, {"title": "x", "body": body(), "severity": "P9"},
    {"title": "x", "body": body(), "service": "missing"}, {"title": "x", "body": body(), "owner": "ghost"},
    {"title": "x", "body": body(), "matchers": [{"label": "a", "op": "=", "value": "x" * 600}]},
    {"title": "x", "body": body(), "status": "deleted"}, {"title": "x", "slug": "new", "body": body()},
])
def test_bad_input_is_a_400_never_a_500(user_client, operator, payload):
    response = user_client(operator).post(URL, payload, format="json")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("query", ["?service=%00", "?status=%00", "match/?alertname=%00", "match/?%00=x",
                                   "match/?alertname=" + "x" * 3000])
def test_odd_query_strings_never_error(token_client, make_runbook, query):
    make_runbook()
    assert token_client("read").get(URL + query).status_code in (200, 400)


@pytest.mark.parametrize("days", [0, 3651])
def test_review_interval_is_bounded(user_client, operator, days):
    response = user_client(operator).post(URL, _payload(review_interval_days=days), format="json")
    assert response.status_code == 400 and "review_interval_days" in response.json()["errors"]
