"""Yuqing's glue: the item schema, the settings and data files, and the `yuqing` command.

The stages live in their own top-level packages, in the order data flows through them:
spiders -> pipelines -> transport -> analysis -> workers -> search/alerts -> reports -> console.
"""
