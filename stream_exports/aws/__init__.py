"""AWS Lambda: the runner that starts jobs as asynchronous invocations, and the view
Lambda Web Adapter posts those invocations to. Nothing else imports this package.
"""
