"""Static files under ASGI: whitenoise (with finders) answers them through uvicorn."""

import httpx
import pytest

ASSETS = {
    "/static/admin/css/base.css": "text/css",
    "/static/ops/ops.css": "text/css",
    "/static/ops/ops.js": "text/javascript",
    "/static/vendor/htmx/htmx.min.js": "text/javascript",
}


@pytest.mark.parametrize("path", sorted(ASSETS))
def test_static_assets_are_served_under_uvicorn(asgi_live_server, path):
    response = httpx.get(f"{asgi_live_server}{path}", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(ASSETS[path])
    assert len(response.content) > 100


def test_vendored_htmx_is_htmx_2_and_unknown_static_is_404(asgi_live_server):
    assert httpx.get(f"{asgi_live_server}/static/vendor/htmx/htmx.min.js").text.startswith("var htmx=function()")
    assert httpx.get(f"{asgi_live_server}/static/vendor/htmx/nope.js").status_code == 404
