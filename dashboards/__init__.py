"""Kibana dashboards for the Elasticsearch index: saved objects kept as files, applied by `kibana.py`."""
