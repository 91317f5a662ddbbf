"""Every model module, imported once so that the metadata (and Alembic) sees every table."""

from wallet.auth import models as auth_models  # noqa: F401
from wallet.brands import models as brand_models  # noqa: F401
from wallet.cards import models as card_models  # noqa: F401
from wallet.passes import models as pass_models  # noqa: F401
from wallet.privacy import models as privacy_models  # noqa: F401
from wallet.geo import models as geo_models  # noqa: F401
from wallet.offers import models as offer_models  # noqa: F401
from wallet.loyalty import models as loyalty_models  # noqa: F401
from wallet.pos import models as pos_models  # noqa: F401
from wallet.push import models as push_models  # noqa: F401
from wallet.insights import models as insight_models  # noqa: F401
from wallet.push import wakeup as push_wakeup  # noqa: F401  (new outbox rows wake dispatchers: pg_notify)
