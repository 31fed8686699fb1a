"""The pipeline: jobs from the durable queue (``gateway.ports.JobQueue``) run by workers.

``worker`` runs handlers from a registry (kind -> handler), ``backoff`` says when a
failed job is tried again, ``failure`` turns an exception into the message kept on the
job, and ``probe`` is the built-in job kind that checks that workers are alive.
"""
