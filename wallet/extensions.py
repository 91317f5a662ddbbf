"""Extension objects bound to an app in ``create_app`` (the API object is made per app)."""

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from wallet.core.db import Base
from wallet.core.errors import ErrorSchema


class WalletApi(Api):
    ERROR_SCHEMA = ErrorSchema


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
