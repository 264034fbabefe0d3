"""The HTTP side: the WSGI app (Slack events, health, metrics, REST API) and its server."""
