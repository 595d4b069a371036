"""Thin FastAPI routers: each reads the request, calls :mod:`akashi.web.services` or :mod:`akashi.access`, renders.

``akashi.web.app.create_app`` includes every router of this package; none of them owns business rules.
"""
