"""The web app: server-rendered pages and the REST API, over the same service functions."""

from threatwatch.web.app import create_app

__all__ = ["create_app"]
