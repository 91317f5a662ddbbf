"""HTTP endpoints of push for shoppers: their devices' tokens, and notifications opened."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.principal import SHOPPER
from wallet.core.pagination import paged
from wallet.push import services
from wallet.push.schemas import DeviceCreateSchema, DeviceSchema

blp = Blueprint("push", __name__, url_prefix="/v1/me", description="The shopper's devices and notifications (shoppers)")


@blp.route("/devices")
class Devices(MethodView):
    @requires(SHOPPER)
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The shopper's devices that receive pushes, most recently seen first"""
        page = services.list_devices(principal=current_principal(), page=pagination_parameters.page,
                                     page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)

    @requires(SHOPPER)
    @blp.arguments(DeviceCreateSchema)
    @blp.response(201, DeviceSchema)
    def post(self, data):
        """Register this phone's push token (idempotent; a token of another account moves here)"""
        return services.register_device(principal=current_principal(), **data)


@blp.route("/devices/<uuid:device_id>")
class DeviceById(MethodView):
    @requires(SHOPPER)
    @blp.response(204)
    @blp.alt_response(404, description="No such device of yours")
    def delete(self, device_id):
        """Stop pushing to a device (e.g. when the app signs out)"""
        services.remove_device(principal=current_principal(), device_id=device_id)


@blp.route("/notifications/<uuid:notification_id>/opened")
class NotificationOpened(MethodView):
    @requires(SHOPPER)
    @blp.response(204)
    @blp.alt_response(404, description="No such notification of yours")
    @blp.alt_response(409, description="The notification was never sent (reason notification_not_sent)")
    def post(self, notification_id):
        """Report that the shopper opened a notification (notification_id from its data; counted once)"""
        services.record_open(principal=current_principal(), notification_id=notification_id)
