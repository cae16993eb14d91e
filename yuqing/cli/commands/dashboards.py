"""`yuqing dashboards apply [--dry-run]`: put the Kibana data views, visualizations, saved search
and dashboard of `dashboards/objects/` into Kibana. Safe to re-run: objects are overwritten by id."""

from __future__ import annotations

import argparse
import sys

from yuqing.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboards", help="Kibana dashboards for the Elasticsearch index",
                            description="Manage the Kibana saved objects shipped in dashboards/objects/.")
    actions = parser.add_subparsers(dest="dashboards_action", metavar="ACTION", required=True)
    apply = actions.add_parser(
        "apply", help="import the data views, visualizations and dashboard into Kibana (idempotent)",
        description="Import the saved objects through Kibana's saved objects API, overwriting earlier "
                    "versions by id. Uses kibana.url, kibana.space and the Kibana credentials from the settings.")
    apply.add_argument("--dry-run", action="store_true",
                       help="check the objects and show what would be imported, without contacting Kibana")
    apply.set_defaults(func=run_apply)


def run_apply(args: argparse.Namespace) -> int:
    from dashboards.kibana import KibanaClient, KibanaError, dangling_references, load_saved_objects

    settings = settings_from(args)
    client = KibanaClient(settings.kibana)
    try:
        objects = load_saved_objects(settings.elasticsearch.index)
        if problems := dangling_references(objects):
            raise KibanaError("saved objects refer to objects that are not shipped: " + "; ".join(problems))
        print(f"Kibana: POST {client.import_url}?overwrite=true  ({len(objects)} objects, "
              f"posts index {settings.elasticsearch.index})")
        for obj in objects:
            print(f"  {obj['type']:<14} {obj['id']:<28} {obj['attributes'].get('title', '')}")
        if args.dry_run:
            print("试运行 dry run: nothing sent")
            return 0
        result = client.import_objects(objects)
    except KibanaError as exc:
        print(f"Kibana 错误 (Kibana error): {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"已导入 imported {result.success_count} objects; open the dashboard "
          f"{client.base_url}/app/dashboards#/view/yuqing-dashboard-overview")
    return 0
