"""JSON API for helpdesk integrations, authenticated with bearer tokens (python -m ivr users token)."""
