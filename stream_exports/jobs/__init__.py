"""The jobs subsystem: a job's lifecycle, the worker that runs it, the runners that
start it, and the followers that stream its events and log while it runs.

Jobs write what the export core produces; the core never imports them.
"""
