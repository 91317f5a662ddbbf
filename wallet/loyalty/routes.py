"""HTTP endpoints of loyalty programs (brand staff) and of the shopper's points and rewards."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER
from wallet.core.pagination import paged
from wallet.loyalty import services
from wallet.loyalty.schemas import (
    AdjustmentCreateSchema,
    AdjustmentSchema,
    ClaimSchema,
    LedgerEntrySchema,
    LoyaltyProgramSchema,
    LoyaltyProgramWriteSchema,
    MemberQueryArgsSchema,
    MemberSchema,
    MyLedgerEntrySchema,
    MyLoyaltySchema,
    MyRewardQueryArgsSchema,
    MyRewardSchema,
    RewardCreateSchema,
    RewardQueryArgsSchema,
    RewardStaffSchema,
    RewardUpdateSchema,
    TierCreateSchema,
    TierOverrideSchema,
    TierSchema,
    TierUpdateSchema,
)

blp = Blueprint("loyalty", __name__, url_prefix="/v1/brands",
                description="Loyalty programs: rules, tiers, rewards and members (brand admins; marketers read)")
my_blp = Blueprint("my_loyalty", __name__, url_prefix="/v1/me",
                   description="The shopper's points, tiers, history and rewards (shoppers)")

READERS = (Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.MARKETER)
ADMINS = (Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
NOT_FOUND = "No such brand, program or resource in your brand"
NOT_A_MEMBER = "You are not a member of this brand's program"


@blp.route("/<uuid:brand_id>/loyalty")
class Program(MethodView):
    @requires(*READERS)
    @blp.response(200, LoyaltyProgramSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id):
        """The brand's loyalty program"""
        return services.get_program(principal=current_principal(), brand_id=brand_id)

    @requires(*ADMINS)
    @blp.arguments(LoyaltyProgramWriteSchema)
    @blp.response(200, LoyaltyProgramSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def put(self, data, brand_id):
        """Set up the program or replace its rules (points already earned are kept as they are)"""
        return services.set_program(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/loyalty/tiers")
class Tiers(MethodView):
    @requires(*READERS)
    @blp.response(200, TierSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id):
        """The program's tiers, lowest threshold first"""
        return services.list_tiers(principal=current_principal(), brand_id=brand_id)

    @requires(*ADMINS)
    @blp.arguments(TierCreateSchema)
    @blp.response(201, TierSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="A tier has this name or threshold (tier_exists), or no program (no_program)")
    def post(self, data, brand_id):
        """Add a tier (reached by points earned over the last 12 months)"""
        return services.create_tier(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/loyalty/tiers/<uuid:tier_id>")
class TierById(MethodView):
    @requires(*ADMINS)
    @blp.arguments(TierUpdateSchema)
    @blp.response(200, TierSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="A tier has this name or threshold (reason tier_exists)")
    def patch(self, changes, brand_id, tier_id):
        """Rename a tier or move its threshold"""
        return services.update_tier(principal=current_principal(), brand_id=brand_id, tier_id=tier_id,
                                    changes=changes)

    @requires(*ADMINS)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    def delete(self, brand_id, tier_id):
        """Remove a tier (overrides to it end; offers targeting it reach nobody in it)"""
        services.delete_tier(principal=current_principal(), brand_id=brand_id, tier_id=tier_id)


@blp.route("/<uuid:brand_id>/loyalty/rewards")
class Rewards(MethodView):
    @requires(*READERS)
    @blp.arguments(RewardQueryArgsSchema, location="query")
    @blp.response(200, RewardStaffSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, args, brand_id):
        """The rewards catalogue, cheapest first"""
        return services.list_rewards(principal=current_principal(), brand_id=brand_id,
                                     include_retired=args["include_retired"])

    @requires(*ADMINS)
    @blp.arguments(RewardCreateSchema)
    @blp.response(201, RewardStaffSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="No program yet (reason no_program)")
    def post(self, data, brand_id):
        """Add a reward: points for a coupon usable at every store of the brand"""
        return services.create_reward(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/loyalty/rewards/<uuid:reward_id>")
class RewardById(MethodView):
    @requires(*READERS)
    @blp.response(200, RewardStaffSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, reward_id):
        """One reward"""
        return services.get_reward(principal=current_principal(), brand_id=brand_id, reward_id=reward_id)

    @requires(*ADMINS)
    @blp.arguments(RewardUpdateSchema)
    @blp.response(200, RewardStaffSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="The reward is retired (reason reward_retired)")
    def patch(self, changes, brand_id, reward_id):
        """Change a reward, or pause and resume claims (active)"""
        return services.update_reward(principal=current_principal(), brand_id=brand_id, reward_id=reward_id,
                                      changes=changes)

    @requires(*ADMINS)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="The stamp card gives this reward (reason reward_in_use)")
    def delete(self, brand_id, reward_id):
        """Retire a reward (coupons already claimed stay valid)"""
        services.retire_reward(principal=current_principal(), brand_id=brand_id, reward_id=reward_id)


@blp.route("/<uuid:brand_id>/loyalty/members")
class Members(MethodView):
    @requires(*ADMINS)
    @blp.arguments(MemberQueryArgsSchema, location="query")
    @blp.response(200, MemberSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, args, brand_id, pagination_parameters):
        """The program's members with their points and tier, newest first (or the one with member_number)"""
        page = services.list_members(principal=current_principal(), brand_id=brand_id,
                                     member_number=args.get("member_number"), page=pagination_parameters.page,
                                     page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@blp.route("/<uuid:brand_id>/loyalty/members/<uuid:membership_id>")
class MemberById(MethodView):
    @requires(*ADMINS)
    @blp.response(200, MemberSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, membership_id):
        """One member's points, stamps and tier"""
        return services.get_member(principal=current_principal(), brand_id=brand_id, membership_id=membership_id)


@blp.route("/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/ledger")
class MemberLedger(MethodView):
    @requires(*ADMINS)
    @blp.response(200, LedgerEntrySchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, brand_id, membership_id, pagination_parameters):
        """A member's ledger, newest first, with who did what"""
        page = services.list_member_ledger(principal=current_principal(), brand_id=brand_id,
                                           membership_id=membership_id, page=pagination_parameters.page,
                                           page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@blp.route("/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/tier")
class MemberTier(MethodView):
    @requires(*ADMINS)
    @blp.arguments(TierOverrideSchema)
    @blp.response(200, MemberSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def put(self, data, brand_id, membership_id):
        """Override a member's tier (tier_id null lifts the override and the computed tier applies again)"""
        return services.override_tier(principal=current_principal(), brand_id=brand_id, membership_id=membership_id,
                                      **data)


@blp.route("/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/adjustments")
class MemberAdjustments(MethodView):
    @requires(*ADMINS)
    @blp.arguments(AdjustmentCreateSchema)
    @blp.response(201, AdjustmentSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="A debit beyond the balance (reason insufficient_points)")
    def post(self, data, brand_id, membership_id):
        """Credit or debit points by hand, with a reason (recorded in the ledger as adjust)"""
        return services.adjust_points(principal=current_principal(), brand_id=brand_id, membership_id=membership_id,
                                      **data)


# --- the shopper's side -------------------------------------------------------------------


@my_blp.route("/loyalty")
class MyLoyalty(MethodView):
    @requires(SHOPPER)
    @my_blp.response(200, MyLoyaltySchema(many=True))
    def get(self):
        """Points, tier and stamps at each brand the shopper is a member of"""
        return services.list_my_loyalty(principal=current_principal())


@my_blp.route("/loyalty/<uuid:brand_id>")
class MyLoyaltyByBrand(MethodView):
    @requires(SHOPPER)
    @my_blp.response(200, MyLoyaltySchema)
    @my_blp.alt_response(404, description=NOT_A_MEMBER)
    def get(self, brand_id):
        """Points, tier, stamps and points expiring soon at one brand"""
        return services.get_my_loyalty(principal=current_principal(), brand_id=brand_id)


@my_blp.route("/loyalty/<uuid:brand_id>/history")
class MyHistory(MethodView):
    @requires(SHOPPER)
    @my_blp.response(200, MyLedgerEntrySchema(many=True))
    @my_blp.alt_response(404, description=NOT_A_MEMBER)
    @my_blp.paginate()
    def get(self, brand_id, pagination_parameters):
        """The shopper's points history at a brand, newest first"""
        page = services.list_my_ledger(principal=current_principal(), brand_id=brand_id,
                                       page=pagination_parameters.page, page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@my_blp.route("/loyalty/<uuid:brand_id>/rewards")
class MyRewards(MethodView):
    @requires(SHOPPER)
    @my_blp.arguments(MyRewardQueryArgsSchema, location="query")
    @my_blp.response(200, MyRewardSchema(many=True))
    @my_blp.alt_response(404, description=NOT_A_MEMBER)
    def get(self, args, brand_id):
        """The brand's rewards, cheapest first, with whether the shopper can claim each now"""
        return services.list_my_rewards(principal=current_principal(), brand_id=brand_id,
                                        affordable_only=args["affordable"])


@my_blp.route("/loyalty/<uuid:brand_id>/rewards/<uuid:reward_id>/claim")
class MyRewardClaim(MethodView):
    @requires(SHOPPER)
    @my_blp.response(201, ClaimSchema)
    @my_blp.alt_response(404, description="Not a member, or no such reward")
    @my_blp.alt_response(409, description="Not enough points (insufficient_points), or the reward is paused, "
                                          "out of stock or at your limit (reward_unavailable)")
    def post(self, brand_id, reward_id):
        """Spend points on a reward: its coupon lands in the wallet, usable at every store of the brand
        (403 tier_required if the reward is for other tiers)"""
        return services.claim_reward(principal=current_principal(), brand_id=brand_id, reward_id=reward_id)
