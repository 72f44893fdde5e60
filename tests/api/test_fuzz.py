"""Walk every operation of the generated OpenAPI schema with hostile input.

Generic on purpose: endpoints added later (webhook ingestion, incidents, …)
are covered as soon as they appear in /api/schema/. For each operation and
each kind of caller (superuser session, `admin`-scoped token, anonymous) it
sends malformed JSON, wrong-typed and non-object bodies, wrong content types,
garbage path and query parameters and garbage Idempotency-Keys, and asserts:
no 5xx, and every error is RFC 9457 problem+json.

Deterministic sweeps cover the known classes of bad input on every route;
Hypothesis then explores around them (a modest number of examples per route,
API_FUZZ_EXAMPLES to raise it), one hostile dimension at a time so that an
early rejection (say of the query) does not hide what the body would do.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote, urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from audit.actors import Actor
from opsportal.catalog.services import service_create

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))
# Triage only (never in CI): a regex of paths to leave out while a known failure is being fixed.
SKIP = re.compile(os.environ["API_FUZZ_SKIP"]) if os.environ.get("API_FUZZ_SKIP") else None
METHODS = ("get", "post", "put", "patch", "delete")
WRITE_METHODS = ("post", "put", "patch")

# Each value stands for a class of bad input; the generated walk explores around them.
HOSTILE_STRINGS = ["a\x00b", "", "-1", "99999999999999999999999", "1e309", "[]", "' OR 1=1 --", "ö/%", "x" * 300]
HOSTILE_JSON = [None, True, 2**63, -(2**80), 1e308, "a\x00b", "x" * 20000, [1, "a"], {"nested": {"deep": [None]}}]
MALFORMED_BODIES = [b"{", b'{"a":', b"[1,", b"\xff\xfe\x00", b"{'single': 'quotes'}", b"NaN", b"{}}", b"\x00",
                    b'{"a": 1, "a": 2', b"[" * 5000]
NON_OBJECT_BODIES = [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"]
ACCEPTS = ["text/html", "application/yaml", "application/xml", "*/*", "garbage/;;", "text/html;q=0.9, */*;q=0.1"]
WRONG_CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data",
                       "application/json; charset=utf-16", ""]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_JSON),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
garbage_text = st.one_of(st.sampled_from([*HOSTILE_STRINGS, "\x00", "0", "1.5", "null"]), st.text(max_size=30))


# --- the schema -----------------------------------------------------------------------
def fetch_schema(client) -> dict:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def deref(schema: dict, node: dict | None) -> dict:
    for _ in range(20):
        if not node or "$ref" not in node:
            break
        target = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node or {}


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, item[method])
        for path, item in sorted(schema["paths"].items())
        for method in METHODS
        if method in item and not (SKIP and SKIP.search(path))
    ]


def body_fields(schema: dict, operation: dict) -> list[str]:
    for media in (operation.get("requestBody") or {}).get("content", {}).values():
        return sorted(deref(schema, media.get("schema")).get("properties", {}))
    return []


def query_names(schema: dict, operation: dict) -> list[str]:
    params = (deref(schema, p) for p in operation.get("parameters", []))
    return [p["name"] for p in params if p.get("in") == "query"] + ["cursor", "page_size", "format"]


def path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def existing_values(client: APIClient, path: str) -> dict[str, str]:
    """Real values for a route's path parameters (from its list endpoint), so the
    body and query are exercised against an object that exists."""
    values = {}
    for name in path_params(path):
        found = "1"
        response = client.get(path.split("{")[0])
        if response.status_code == 200 and not response.streaming:
            data = json.loads(response.content)
            rows = data.get("results", []) if isinstance(data, dict) else data
            if rows and isinstance(rows[0], dict) and name in rows[0]:
                found = str(rows[0][name])
        values[name] = found
    return values


def build_url(path: str, values: dict[str, str], query: dict | None = None) -> str:
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", quote(value, safe="") or "0")
    return url + ("?" + urlencode(query) if query else "")


# --- the checks ---------------------------------------------------------------------------
def assert_no_5xx_and_problem(response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.content[:300]!r}"
    if response.streaming:
        b"".join(response.streaming_content)  # an error inside a stream counts too
        return
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json", f"{what}: {response['Content-Type']}"
        body = json.loads(response.content)
        assert body["status"] == response.status_code, what
        assert body.get("title") and body.get("detail") and body.get("type"), what


def send(client: APIClient, method: str, url: str, payload: bytes = b"{}", content_type: str = "application/json",
         **extra):
    if method in ("get", "delete"):
        return client.generic(method.upper(), url, **extra)
    return client.generic(method.upper(), url, payload, content_type=content_type, **extra)


CALLERS = ("superuser-session", "admin-token", "anonymous")


def make_caller(kind: str, make_user, issue_token) -> APIClient:
    client = APIClient()
    if kind == "superuser-session":
        client.force_login(make_user("root", superuser=True))
    elif kind == "admin-token":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token('admin', service='fuzzer')}")
    return client


@pytest.fixture
def fuzz_target(db):
    service_create(name="fuzz-target", actor=Actor.for_system("test"), source="test")


@pytest.fixture(params=CALLERS)
def caller(request, fuzz_target, make_user, issue_token) -> APIClient:
    return make_caller(request.param, make_user, issue_token)


class RoundRobin:
    """The deterministic sweeps spread their requests over all three callers
    (the input handling behind authentication is the same; this keeps them fast)."""

    def __init__(self, clients: list[APIClient]):
        self.clients, self.turn = clients, 0

    def __getattr__(self, name):
        self.turn += 1
        return getattr(self.clients[self.turn % len(self.clients)], name)


@pytest.fixture
def callers(fuzz_target, make_user, issue_token) -> RoundRobin:
    return RoundRobin([make_caller(kind, make_user, issue_token) for kind in CALLERS])


@pytest.fixture
def schema(api_client) -> dict:
    return fetch_schema(api_client)


def test_schema_has_operations_to_walk(schema):
    ops = operations(schema)
    assert len(ops) >= 5, "the walker found (almost) nothing to walk: is the schema empty?"
    assert any(method == "post" for _, method, _ in ops)


# --- deterministic sweeps ---------------------------------------------------------------------
def test_every_query_parameter_rejects_hostile_values(callers, schema):
    for path, method, operation in operations(schema):
        if method != "get":
            continue
        values = existing_values(callers.clients[0], path)
        for name in query_names(schema, operation):
            for value in HOSTILE_STRINGS:
                url = build_url(path, values, {name: value})
                assert_no_5xx_and_problem(callers.get(url), f"GET {url[:200]}")


def test_every_path_parameter_rejects_hostile_values(callers, schema):
    for path, method, _ in operations(schema):
        values = existing_values(callers.clients[0], path)
        for name in path_params(path):
            for value in HOSTILE_STRINGS + [str(2**63), str(-(2**63) - 1)]:
                url = build_url(path, {**values, name: value})
                assert_no_5xx_and_problem(send(callers, method, url), f"{method.upper()} {url[:200]}")


def test_every_body_field_rejects_wrong_types(callers, schema):
    for path, method, operation in operations(schema):
        if method not in WRITE_METHODS:
            continue
        url = build_url(path, existing_values(callers.clients[0], path))
        for name in body_fields(schema, operation) or ["_"]:
            for value in HOSTILE_JSON:
                response = send(callers, method, url, json.dumps({name: value}).encode())
                assert_no_5xx_and_problem(response, f"{method.upper()} {url} {name}={str(value)[:60]!r}")


def test_every_write_rejects_malformed_and_non_object_bodies(callers, schema):
    for path, method, _ in operations(schema):
        if method not in WRITE_METHODS:
            continue
        url = build_url(path, existing_values(callers.clients[0], path))
        for payload in MALFORMED_BODIES + NON_OBJECT_BODIES:
            assert_no_5xx_and_problem(send(callers, method, url, payload), f"{method.upper()} {url} {payload[:40]!r}")
        for content_type in WRONG_CONTENT_TYPES:
            response = send(callers, method, url, b"name=x", content_type)
            assert_no_5xx_and_problem(response, f"{method.upper()} {url} as {content_type!r}")


def test_methods_not_in_the_schema_are_405_problem(callers, schema):
    for path, item in schema["paths"].items():
        if SKIP and SKIP.search(path):
            continue
        url = build_url(path, existing_values(callers.clients[0], path))
        for method in METHODS:
            if method in item:
                continue
            response = send(callers, method, url)
            assert_no_5xx_and_problem(response, f"{method.upper()} {url}")
            assert response.status_code in (401, 403, 404, 405), f"{method.upper()} {url}: {response.status_code}"


# --- property-based exploration -------------------------------------------------------------
def request_strategy(schema: dict, path: str, operation: dict, benign_path: dict[str, str]):
    names = query_names(schema, operation)
    hostile_path = st.fixed_dictionaries(
        {name: st.one_of(st.integers(min_value=-5, max_value=10**20).map(str), garbage_text)
         for name in path_params(path)}
    )
    hostile_query = st.one_of(
        st.fixed_dictionaries({name: garbage_text for name in names}),  # every known parameter at once
        st.dictionaries(st.one_of(st.sampled_from(names), st.text(max_size=8)), garbage_text, min_size=1, max_size=4),
    )
    fields = body_fields(schema, operation)
    wrong_typed = st.fixed_dictionaries({}, optional={name: json_values for name in fields}) if fields else st.just({})
    hostile_body = st.one_of(
        st.one_of(wrong_typed, json_values).map(lambda v: (json.dumps(v).encode(), "application/json")),
        st.one_of(st.binary(max_size=80), st.sampled_from(MALFORMED_BODIES)).map(lambda b: (b, "application/json")),
        st.tuples(st.binary(max_size=40), st.sampled_from(WRONG_CONTENT_TYPES)),
    )
    hostile_key = st.one_of(st.text(max_size=300), st.just(""), st.just("fixed-key"))
    hostile_accept = st.one_of(st.sampled_from(ACCEPTS), st.text(max_size=20))
    benign = {"path": st.just(benign_path), "query": st.just({}), "body": st.just((b"{}", "application/json")),
              "key": st.none(), "accept": st.none()}
    hostile = {"path": hostile_path, "query": hostile_query, "body": hostile_body, "key": hostile_key,
               "accept": hostile_accept}
    return st.sampled_from(sorted(hostile)).flatmap(
        lambda dimension: st.fixed_dictionaries({**benign, dimension: hostile[dimension]})
    )


def walker(client: APIClient, schema: dict, path: str, method: str, operation: dict):
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(req=request_strategy(schema, path, operation, existing_values(client, path)))
    def walk(req):
        url = build_url(path, req["path"], req["query"])
        payload, content_type = req["body"]
        extra = {} if req["key"] is None else {"HTTP_IDEMPOTENCY_KEY": req["key"]}
        if req["accept"] is not None:
            extra["HTTP_ACCEPT"] = req["accept"]
        response = send(client, method, url, payload, content_type, **extra)
        assert_no_5xx_and_problem(response, f"{method.upper()} {url[:200]} {content_type!r} {payload[:80]!r}")

    return walk


def test_every_operation_survives_generated_hostile_input(caller, schema):
    walked = list(operations(schema))
    assert len(walked) > 20, "the schema lost its operations: the fuzz would check nothing"
    for path, method, operation in walked:
        walker(caller, schema, path, method, operation)()  # each example asserts no 5xx + problem+json


# --- routes the schema does not list (excluded from OpenAPI, plain Django views) --------------
def api_routes(patterns=None, prefix: str = "/") -> list[str]:
    """Every concrete URL under /api/ from the resolver, parameters filled with "1"."""
    urls = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        piece = str(entry.pattern)
        piece = re.sub(r"\(\?P<\w+>[^)]*\)", "1", piece)  # router regex groups
        piece = re.sub(r"<(?:\w+:)?\w+>", "1", piece)  # path() converters
        piece = piece.replace("^", "").replace("$", "").replace("\\", "")
        piece = re.sub(r"\.\(\?P<format>[a-z0-9]+\)/?|\(\?:[^)]*\)|\?", "", piece)
        url = prefix + piece
        if isinstance(entry, URLResolver):
            if url.startswith("/api/") or "/api/".startswith(url):
                urls += api_routes(entry.url_patterns, url)
        elif isinstance(entry, URLPattern) and url.startswith("/api/"):
            urls.append(url)
    return sorted(url for url in set(urls) if not (SKIP and SKIP.search(url)))


def test_every_api_route_in_the_resolver_survives_bad_input(callers):
    routes = api_routes()
    assert "/api/v1/services/" in routes and "/api/v1/services/1/" in routes, routes
    for url in routes:
        for method in METHODS:
            for payload in (b"{", b"[" * 5000, b"[1]", json.dumps({"_": "a\x00b"}).encode()):
                response = send(callers, method, url, payload)
                assert_no_5xx_and_problem(response, f"{method.upper()} {url} {payload[:20]!r}")
            response = send(callers, method, url, b"x", "text/plain")
            assert_no_5xx_and_problem(response, f"{method.upper()} {url} text/plain")
            for accept in ACCEPTS:
                response = send(callers, method, url, b"{", HTTP_ACCEPT=accept)
                assert_no_5xx_and_problem(response, f"{method.upper()} {url} Accept: {accept}")
        query = urlencode({"cursor": "a\x00b", "page_size": "-1", "x": "y" * 300})
        response = callers.get(f"{url}?{query}")
        assert_no_5xx_and_problem(response, f"GET {url} hostile query")
