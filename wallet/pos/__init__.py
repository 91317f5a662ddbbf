"""The till: who is scanning, and (in later issues) scans, purchases and redemptions."""
