"""The web app's routes, one module per resource; shared rendering and dependencies live one level up
(``web.rendering``, ``web.deps``, ``web.common``)."""
