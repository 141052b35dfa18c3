"""The contract is published: /openapi.json and /docs answer, and name every route of API.md."""

from __future__ import annotations

from tests.support import Api


async def test_openapi_document_lists_the_api(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/api/auth/register",
        "/api/feed",
        "/api/posts/{post_id}",
        "/api/users/{user_id}/follow",
        "/api/notifications",
        "/api/stream",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
