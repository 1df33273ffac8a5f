"""Staff accounts: who may see tickets, and API tokens for helpdesk integrations."""
