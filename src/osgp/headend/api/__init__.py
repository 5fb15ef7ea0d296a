"""The head-end REST API (FastAPI, OpenAPI at ``/api/v1/openapi.json``)."""

from osgp.headend.api.app import ApiContext, create_app

__all__ = ["ApiContext", "create_app"]
