"""The native JSON API under ``/v1``: tokens, direct uploads, file status, change feed."""
