"""Kibana saved objects: consistent with the index mappings, imported idempotently, errors surfaced.

The import goes to a loopback server replaying recorded Kibana 8 answers; the tests check the
exact request (multipart ndjson, kbn-xsrf, auth, space) and what the user is told.
"""

import argparse
import base64
import json
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from dashboards.kibana import dangling_references, load_saved_objects, to_ndjson
from search.elastic import load_template
from tests.recorded_http import RecordingServer, Reply, unused_loopback_url
from yuqing.cli.commands import dashboards

IMPORT = "/api/saved_objects/_import"
KIBANA_HEADERS = {"kbn-name": "kibana"}


@pytest.fixture
def kibana():
    with RecordingServer(default_headers=KIBANA_HEADERS) as server:
        yield server


@pytest.fixture
def env(monkeypatch, kibana):
    monkeypatch.setenv("YUQING_KIBANA__URL", kibana.url)
    monkeypatch.setenv("YUQING_ELASTICSEARCH__INDEX", "yuqing-posts")
    return monkeypatch


def apply(capsys, *flags):
    parser = argparse.ArgumentParser()
    dashboards.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dashboards", "apply", *flags])
    args.config = None
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def multipart_file(request):
    """The one uploaded file of a multipart/form-data request: (field name, file name, bytes)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    (part,) = list(message.iter_parts())
    return part.get_param("name", header="content-disposition"), part.get_filename(), part.get_payload(decode=True)


# -- the saved objects themselves -----------------------------------------------------------------


def _mapped_fields(kind):
    def walk(properties, prefix=""):
        for name, spec in properties.items():
            if "properties" in spec:
                yield from walk(spec["properties"], f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", spec
    return dict(walk(load_template(kind)["template"]["mappings"]["properties"]))


def test_objects_cover_the_dashboard_and_refer_only_to_each_other():
    objects = load_saved_objects("yuqing-posts")
    kinds = [o["type"] for o in objects]
    assert kinds.count("index-pattern") == 2 and kinds.count("visualization") == 6
    assert kinds.count("search") == 1 and kinds.count("dashboard") == 1
    assert dangling_references(objects) == []
    assert len({o["id"] for o in objects}) == len(objects)
    # Objects older than Kibana 8.0.0 get new ids when imported into a space; ours must keep theirs.
    assert {o["coreMigrationVersion"] for o in objects} == {"8.0.0"}

    dashboard = next(o for o in objects if o["type"] == "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    assert {p["panelRefName"] for p in panels} == set(refs)
    titles = {o["id"]: o["attributes"]["title"] for o in objects}
    shown = {titles[r["id"]] for r in refs.values()}
    for wanted in ("声量趋势", "情感分布", "平台分布", "热点地区", "关联政策", "热点事件", "负面舆情"):
        assert any(t.startswith(wanted) for t in shown), wanted


def test_every_field_a_panel_uses_is_mapped_and_aggregatable():
    objects = {o["id"]: o for o in load_saved_objects("yuqing-posts")}
    fields_of = {"yuqing-data-view-posts": _mapped_fields("posts"), "yuqing-data-view-events": _mapped_fields("events")}
    time_fields = {o["id"]: o["attributes"]["timeFieldName"] for o in objects.values() if o["type"] == "index-pattern"}
    assert time_fields == {"yuqing-data-view-posts": "when", "yuqing-data-view-events": "last_seen"}
    checked = 0
    for obj in objects.values():
        if obj["type"] != "visualization":
            continue
        (ref,) = obj["references"]
        mapped = fields_of[ref["id"]]
        search_source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert search_source["indexRefName"] == ref["name"]
        for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
            if "field" in agg["params"]:
                spec = mapped[agg["params"]["field"]]
                assert spec["type"] in ("keyword", "date", "integer", "long", "float"), agg["params"]["field"]
                checked += 1
    assert checked >= 8
    negative = objects["yuqing-search-negative"]
    query = json.loads(negative["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    assert query == {"query": 'sentiment.label : "negative"', "language": "kuery"}
    assert all(column in fields_of["yuqing-data-view-posts"] for column in negative["attributes"]["columns"])


def test_data_views_follow_the_configured_index_name():
    views = {o["id"]: o["attributes"]["title"] for o in load_saved_objects("ops-yuqing") if o["type"] == "index-pattern"}
    assert views == {"yuqing-data-view-posts": "ops-yuqing", "yuqing-data-view-events": "ops-yuqing-events"}


# -- applying them ----------------------------------------------------------------------------------


def test_apply_imports_one_ndjson_file_with_overwrite(env, kibana, capsys):
    env.setenv("YUQING_KIBANA__API_KEY", "a2liYW5hLWtleS1mcm9tLWVudg==")
    kibana.route("POST", IMPORT, Reply.load("elastic/kibana_import_success.json"))
    code, out, _ = apply(capsys)
    assert code == 0 and "imported 10 objects" in out
    code_again, _, _ = apply(capsys)
    assert code_again == 0

    first, second = kibana.sent("POST", IMPORT)
    assert first.query == {"overwrite": ["true"]}
    assert first.headers["kbn-xsrf"] == "true"
    assert first.headers["authorization"] == "ApiKey a2liYW5hLWtleS1mcm9tLWVudg=="
    assert first.headers["content-type"].startswith("multipart/form-data; boundary=")
    name, filename, payload = multipart_file(first)
    assert (name, filename) == ("file", "yuqing-dashboards.ndjson")
    assert payload == to_ndjson(load_saved_objects("yuqing-posts"))
    lines = [json.loads(line) for line in payload.decode("utf-8").splitlines()]
    assert all(isinstance(o["attributes"].get("visState", ""), str) for o in lines)
    assert multipart_file(second)[2] == payload  # re-applying sends the same objects, overwritten by id


def test_apply_to_a_space_with_basic_auth(env, kibana, capsys):
    env.setenv("YUQING_KIBANA__SPACE", "press-office")
    env.setenv("YUQING_KIBANA__USERNAME", "yuqing_dashboards")
    env.setenv("YUQING_KIBANA__PASSWORD", "pw-from-env")
    kibana.route("POST", f"/s/press-office{IMPORT}", Reply.load("elastic/kibana_import_success.json"))
    code, out, _ = apply(capsys)
    assert code == 0 and "/s/press-office/app/dashboards" in out
    (request,) = kibana.requests
    assert request.path == f"/s/press-office{IMPORT}"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"yuqing_dashboards:pw-from-env").decode()


def test_dry_run_checks_and_lists_without_sending(env, kibana, capsys):
    code, out, _ = apply(capsys, "--dry-run")
    assert code == 0 and "nothing sent" in out
    assert "yuqing-dashboard-overview" in out and "yuqing-data-view-posts" in out
    assert kibana.requests == []


@pytest.mark.parametrize("fixture,expected", [
    ("kibana_400_bad_request", "Kibana answered 400 Bad Request: Unexpected token } in JSON at position 1021"),
    ("kibana_401_unauthorized", "401 Unauthorized: [security_exception"),
    ("kibana_import_missing_references",
     "imported 9 of 10 objects; failed: visualization yuqing-vis-events «热点事件 Top events»: "
     "missing_references (index-pattern yuqing-data-view-events)"),
])
def test_kibana_refusals_are_shown_with_kibanas_message(env, kibana, capsys, fixture, expected):
    kibana.route("POST", IMPORT, Reply.load(f"elastic/{fixture}.json"))
    code, _, err = apply(capsys)
    assert code == 1
    assert expected in err
    if "401" in fixture:
        assert "YUQING_KIBANA__API_KEY" in err


def test_kibana_down_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("YUQING_KIBANA__URL", unused_loopback_url())
    code, _, err = apply(capsys)
    assert code == 1 and "is unreachable" in err and "Traceback" not in err
