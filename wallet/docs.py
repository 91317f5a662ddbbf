"""Serves the Swagger UI assets from the installed package, so that /docs works offline."""

from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint("docs_assets", __name__, static_folder=swagger_ui_path, static_url_path="/docs/assets")
