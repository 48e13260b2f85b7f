"""AWS Lambda behind API Gateway: where the app runs (``environment``), the view Lambda Web
Adapter posts job invocations to (``events``), each request's public prefix (``gateway``),
the settings for HTTPS at the gateway (``settings``, for a settings module), the system
checks of such a project (``checks``) and stream records as CloudWatch metrics
(``metrics``). Only the app's start-up (``apps``) imports it; ``LambdaRunner`` is in
:mod:`stream_exports.runners.on_lambda`.
"""
