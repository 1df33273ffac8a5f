"""The public help page: the knowledge base's answers on the web, and a "send us a message" form."""
