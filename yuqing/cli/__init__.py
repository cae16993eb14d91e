"""The `yuqing` command line."""
