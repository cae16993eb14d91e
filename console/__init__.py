"""The web console: press officers work alerts, analysts search and watch trends, leaders read briefings."""
