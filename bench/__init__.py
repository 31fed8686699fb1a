"""Throughput benchmark of the gateway against SeaweedFS and moto, started in the same run.

``python -m bench`` (``make bench``) starts each server on loopback in a fresh temporary
directory, PUTs and GETs the same test files through the S3 API with curl and boto3, and
prints MiB/s per server with the gateway's ratios to the reference servers, the gateway's
peak RSS growth during uploads, and its backend bytes per logical byte. See
``docs/benchmarks.md``.

Modules, one concept each:

- ``bench.net``: free loopback ports and readiness polling.
- ``bench.services``: start and stop the three servers.
- ``bench.data``: the random and text-like test files.
- ``bench.clients``: the curl and boto3 transfer drivers, with verification.
- ``bench.memory``: peak-RSS sampling of a process tree.
- ``bench.model``: the result records.
- ``bench.runner``: the measurement loop over one server.
- ``bench.report``: the printed tables and the JSON file.
"""
