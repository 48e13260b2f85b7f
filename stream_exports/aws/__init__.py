"""AWS Lambda: the runner that starts jobs as asynchronous invocations, the view Lambda
Web Adapter posts those invocations to, and what a project behind API Gateway needs
(``gateway``: each request's public prefix; ``settings``: HTTPS at the gateway, for a
settings module). Nothing else in stream_exports imports this package.
"""
