"""The Flask application factory: settings, the shared service object, the blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from service.config import Config
from service.hindsight import Hindsight


def create_app(config: Mapping[str, Any] | None = None, *, warm: bool = True) -> Flask:
    """Build the app: defaults, then HINDSIGHT_* variables, then ``config``.

    With ``warm`` the model and indexes load now, so gunicorn (``preload_app``) shares them
    between workers instead of loading them once per worker.
    """
    app = Flask(__name__)
    settings = Config.load(config)
    hindsight = Hindsight(settings)
    app.extensions["hindsight"] = hindsight
    app.config["MAX_CONTENT_LENGTH"] = settings["max_document_bytes"] + 64 * 1024

    from service.api import api

    app.register_blueprint(api)
    if warm:
        hindsight.upgrade()
        hindsight.embedder.encode(["warm up"])
        hindsight.index.ensure_current()
    return app


def hindsight_of(app: Flask) -> Hindsight:
    hindsight: Hindsight = app.extensions["hindsight"]
    return hindsight
