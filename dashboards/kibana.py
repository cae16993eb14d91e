"""Apply the saved objects in `dashboards/objects/` to Kibana through its saved objects API.

The files hold one saved object each, as Kibana exports them, except that the attributes Kibana
stores as JSON strings (visState, panelsJSON, searchSourceJSON...) are written as plain JSON so
that they can be read and reviewed; `${POSTS_INDEX}` stands for the posts index name. Applying
is `POST /api/saved_objects/_import?overwrite=true` with the objects as one ndjson file, so it is
idempotent: the same ids are overwritten, nothing is duplicated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from yuqing.config.settings import KibanaSettings

OBJECTS_DIR = Path(__file__).resolve().parent / "objects"
INDEX_PLACEHOLDER = "${POSTS_INDEX}"
# Attributes Kibana keeps as JSON-encoded strings.
JSON_STRING_ATTRIBUTES = ("visState", "uiStateJSON", "panelsJSON", "optionsJSON")


class KibanaError(RuntimeError):
    """Kibana is unreachable, refused the request, or did not import every object."""


@dataclass
class ImportResult:
    success_count: int
    imported: list[tuple[str, str]] = field(default_factory=list)  # (type, id)


def _encode(obj: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(obj["attributes"])
    for name in JSON_STRING_ATTRIBUTES:
        if name in attributes and not isinstance(attributes[name], str):
            attributes[name] = json.dumps(attributes[name], ensure_ascii=False)
    meta = attributes.get("kibanaSavedObjectMeta")
    if meta and not isinstance(meta.get("searchSourceJSON"), str):
        attributes["kibanaSavedObjectMeta"] = {**meta, "searchSourceJSON": json.dumps(meta["searchSourceJSON"],
                                                                                      ensure_ascii=False)}
    return {**obj, "attributes": attributes}


def load_saved_objects(posts_index: str, directory: Path = OBJECTS_DIR) -> list[dict[str, Any]]:
    """The saved objects of `directory`, in file-name order, ready for Kibana."""
    objects = []
    for path in sorted(directory.glob("*.json")):
        text = path.read_text(encoding="utf-8").replace(INDEX_PLACEHOLDER, posts_index)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KibanaError(f"{path}: not valid JSON ({exc})") from exc
        missing = [key for key in ("type", "id", "attributes") if key not in obj]
        if missing:
            raise KibanaError(f"{path}: a saved object needs {', '.join(missing)}")
        objects.append(_encode(obj))
    if not objects:
        raise KibanaError(f"no saved objects in {directory}")
    return objects


def dangling_references(objects: list[dict[str, Any]]) -> list[str]:
    """References to objects that are not in the set: Kibana would refuse them as missing_references."""
    present = {(o["type"], o["id"]) for o in objects}
    return [f"{o['type']} {o['id']} refers to {r['type']} {r['id']}"
            for o in objects for r in o.get("references", []) if (r["type"], r["id"]) not in present]


def to_ndjson(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode("utf-8")


def _describe_errors(errors: list[dict[str, Any]]) -> str:
    lines = []
    for error in errors:
        detail = error.get("error", {})
        what = detail.get("type", "unknown")
        if detail.get("message"):
            what += f": {detail['message']}"
        if detail.get("references"):
            what += " (" + ", ".join(f"{r['type']} {r['id']}" for r in detail["references"]) + ")"
        lines.append(f"{error.get('type')} {error.get('id')} «{error.get('meta', {}).get('title', '')}»: {what}")
    return "; ".join(lines)


class KibanaClient:
    """The one Kibana call Yuqing needs. Credentials come from settings (environment secrets)."""

    def __init__(self, settings: KibanaSettings, *, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.settings = settings
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["kbn-xsrf"] = "true"  # Kibana refuses writes without it
        if settings.api_key is not None:
            self.session.headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
        elif settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            self.session.auth = (settings.username, password)

    @property
    def base_url(self) -> str:
        base = self.settings.url.rstrip("/")
        return f"{base}/s/{self.settings.space}" if self.settings.space else base

    @property
    def import_url(self) -> str:
        return f"{self.base_url}/api/saved_objects/_import"

    def import_objects(self, objects: list[dict[str, Any]]) -> ImportResult:
        """Import (overwriting by id); raise KibanaError with Kibana's own message on any failure."""
        files = {"file": ("yuqing-dashboards.ndjson", to_ndjson(objects), "application/ndjson")}
        try:
            response = self.session.post(self.import_url, params={"overwrite": "true"}, files=files,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise KibanaError(f"Kibana at {self.settings.url} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:500]}
        if response.status_code >= 400:
            message = body.get("message") or body.get("error") or response.reason
            hint = ""
            if response.status_code in (401, 403):
                hint = " (check YUQING_KIBANA__API_KEY or YUQING_KIBANA__USERNAME/PASSWORD)"
            status = f"{response.status_code} {body['error']}" if body.get("error") else str(response.status_code)
            raise KibanaError(f"Kibana answered {status}: {message}{hint}")
        if not body.get("success", False):
            raise KibanaError(f"Kibana imported {body.get('successCount', 0)} of {len(objects)} objects; "
                              f"failed: {_describe_errors(body.get('errors', []))}")
        return ImportResult(success_count=body.get("successCount", 0),
                            imported=[(r["type"], r["id"]) for r in body.get("successResults", [])])

    def close(self) -> None:
        self.session.close()
