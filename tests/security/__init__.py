"""Attacks on Akashi, each run with the tool an attacker would use; every one must fail cleanly."""
