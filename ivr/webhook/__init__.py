"""The webhook transport: Twilio Voice webhooks answered with TwiML, and Twilio's other callbacks.

`routes` runs the call flow for `/voice` and its steps; `stream_offer` answers `<Connect><Stream>`
when the call can be held over Media Streams; `fallback` is the primary-handler-fails URL;
`transcription` and `sms_status` are Twilio's status callbacks. Blueprints are registered by
create_app from ivr/registry.py.
"""
