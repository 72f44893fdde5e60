"""OpenAPI 3 at /api/schema/ and Swagger UI at /api/docs/ working offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from openapi_spec_validator import validate

ROOT = Path(settings.BASE_DIR)


@pytest.mark.django_db
def test_schema_is_valid_openapi_3(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    spec = json.loads(response.content)
    assert spec["openapi"].startswith("3.")
    validate(spec)  # raises OpenAPIValidationError on any violation
    assert "/api/v1/services/" in spec["paths"]


@pytest.mark.django_db
def test_schema_documents_bearer_tokens(api_client):
    spec = json.loads(api_client.get("/api/schema/?format=json").content)
    scheme = spec["components"]["securitySchemes"]["bearerToken"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    create = spec["paths"]["/api/v1/services/"]["post"]
    assert {"bearerToken": []} in create["security"]


def test_spectacular_validate_fail_on_warn_is_clean(tmp_path):
    """Run in a fresh process: drf-spectacular's warning counter is process-global."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings_test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3")


@pytest.mark.django_db
def test_swagger_ui_is_served_offline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    # No CDN, no validator badge, no external anything: the machines have no internet.
    assert not re.findall(r"https?://", page), re.findall(r"https?://[^\s\"'<>]+", page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    # The settings script is its own request, not inline (Content-Security-Policy; docs/security.md).
    scripts = [a for a in assets if a.startswith("/api/docs/?script")]
    assert len(scripts) == 1, assets
    script = client.get(scripts[0].replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    code = script.content.decode()
    assert "SwaggerUIBundle" in code and not re.findall(r"https?://", code)
    for asset in assets:
        if asset in scripts:
            continue
        assert asset.startswith("/static/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert b"".join(served.streaming_content) if served.streaming else served.content
    assert '"/api/schema/"' in code
