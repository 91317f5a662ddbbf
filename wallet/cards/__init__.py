"""The shopper's wallet: bring-your-own loyalty cards of any shop, and brand program memberships."""
