"""Twilio: the REST client (and, after issue 18, the webhook signature checks)."""
