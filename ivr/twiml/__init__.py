"""TwiML: a flow's turn rendered as a TwiML document, and how words are spoken in it.

Shared by both transports: the webhook answers with it, and the Media Streams transport hands
a call back to it (a transfer, the end of a stream).
"""
