"""Twilio's platform: request signatures, the URLs Twilio requests, and the one REST client."""
