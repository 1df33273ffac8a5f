"""Tell staff about new tickets by email and/or a webhook (e.g. a chat channel)."""
