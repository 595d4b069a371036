"""What the web routers call: queries shaped for pages and the API, admin settings, incidents, derived media.

Nothing here knows about HTTP requests; evidence reads still go through :mod:`akashi.access`.
"""
