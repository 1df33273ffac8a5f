"""Recordings: fetched from Twilio's API (only there), kept in our own store."""
