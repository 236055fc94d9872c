"""Segments, offers, campaigns, variants and deliveries."""
