"""The HTTP layer: who is asking (sessions, signed URLs), how streams are served
under WSGI and ASGI, caps on open streams, refusals as JSON, and the views.
"""
