"""HTTP endpoints of sign-up, sign-in, token refresh, sign-out and the shopper's own profile."""

import dataclasses

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth import services
from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER
from wallet.auth.schemas import (
    RefreshSchema,
    ShopperSchema,
    ShopperSignUpSchema,
    ShopperUpdateSchema,
    SignedUpSchema,
    SignInSchema,
    StaffMemberSchema,
    TokenPairSchema,
)
from wallet.auth.tokens import SHOPPER_AUDIENCE, STAFF_AUDIENCE
from wallet.core.ratelimits import rate_limited

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Sign-up, sign-in and sessions")
me_blp = Blueprint("me", __name__, url_prefix="/v1/me", description="The signed-in shopper")
staff_me_blp = Blueprint("staff_me", __name__, url_prefix="/v1/staff/me", description="The signed-in staff member")

SIGN_IN_ERRORS = ((401, "Wrong e-mail or password"),
                  (429, "Too many failed attempts (reason sign_in_locked) or requests (reason rate_limited); "
                        "see Retry-After"))


@blp.route("/shoppers")
class ShopperSignUp(MethodView):
    @rate_limited(blp, "sign_up", account="email")
    @blp.arguments(ShopperSignUpSchema)
    @blp.response(201, SignedUpSchema)
    @blp.alt_response(409, description="An account exists for this e-mail")
    def post(self, data):
        """Create a shopper account and sign it in"""
        shopper, tokens = services.sign_up_shopper(**data)
        return {**dataclasses.asdict(tokens), "shopper": shopper}


@blp.route("/shoppers/sign-in")
class ShopperSignIn(MethodView):
    @rate_limited(blp, "sign_in", account="email")
    @blp.arguments(SignInSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, description=SIGN_IN_ERRORS[0][1])
    @blp.alt_response(429, description=SIGN_IN_ERRORS[1][1])
    def post(self, data):
        """Sign a shopper in"""
        return services.sign_in(audience=SHOPPER_AUDIENCE, **data)


@blp.route("/staff/sign-in")
class StaffSignIn(MethodView):
    @rate_limited(blp, "sign_in", account="email")
    @blp.arguments(SignInSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, description=SIGN_IN_ERRORS[0][1])
    @blp.alt_response(429, description=SIGN_IN_ERRORS[1][1])
    def post(self, data):
        """Sign a staff member (retailer or cashier) in"""
        return services.sign_in(audience=STAFF_AUDIENCE, **data)


@blp.route("/refresh")
class Refresh(MethodView):
    @rate_limited(blp, "refresh", account="refresh_token")
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, description="Invalid, expired or already used refresh token")
    def post(self, data):
        """Trade a refresh token for a new access token and a new refresh token"""
        return services.refresh_tokens(**data)


@blp.route("/sign-out")
class SignOut(MethodView):
    @requires(SHOPPER, *Role)
    @blp.response(204)
    def post(self):
        """End the current session (its access and refresh tokens stop working)"""
        services.sign_out(principal=current_principal())


@me_blp.route("")
class Me(MethodView):
    @requires(SHOPPER)
    @me_blp.response(200, ShopperSchema)
    def get(self):
        """The shopper's profile and consents"""
        return services.get_shopper(principal=current_principal())

    @requires(SHOPPER)
    @me_blp.arguments(ShopperUpdateSchema)
    @me_blp.response(200, ShopperSchema)
    def patch(self, changes):
        """Change profile fields or consents (each consent change is recorded)"""
        return services.update_shopper_profile(principal=current_principal(), changes=changes)


@staff_me_blp.route("")
class StaffMe(MethodView):
    @requires(*Role)
    @staff_me_blp.response(200, StaffMemberSchema)
    def get(self):
        """The staff member's account, role, brand and stores"""
        return services.get_staff_member(principal=current_principal())
