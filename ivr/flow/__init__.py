"""The call flow, independent of any transport: the engine, its actions, menus, context and states.

States say *what* happens on a call (see actions.py for the contract); the webhook transport
(ivr/webhook) and the Media Streams transport (ivr/stream) say *how*.
"""
