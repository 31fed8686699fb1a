"""Benchmark of the gateway against reference servers started in the same run.

``python -m bench`` (``make bench``) runs two suites, each starting its servers one at a
time on loopback in a fresh temporary directory:

- ``s3``: PUT and GET of the same test files through the S3 API with curl and boto3,
  against SeaweedFS and moto; MiB/s per server with the gateway's ratios, the gateway's
  peak RSS growth during uploads, and its backend bytes per logical byte.
- ``webdav``: curl PUT and GET of the same files, 4 KiB PUTs by parallel clients, and
  PROPFIND Depth 1 of a folder of 10,000 files with the server's RSS around it, against
  wsgidav's FilesystemProvider and ``rclone serve webdav``.

See ``docs/benchmarks.md``. Modules, one concept each:

- ``bench.net``: free loopback ports and readiness polling.
- ``bench.endpoint``: where a server listens and with which credentials (S3, WebDAV).
- ``bench.services``: process plumbing, and start and stop of the three S3 servers.
- ``bench.dav_services``: start of the three WebDAV servers.
- ``bench.wsgidav_server``: the script that serves wsgidav's FilesystemProvider.
- ``bench.data``: the random and text-like test files.
- ``bench.clients``: the curl and boto3 transfer drivers (S3), and curl for WebDAV.
- ``bench.dav_http``: WebDAV requests over keep-alive connections, parallel PUTs.
- ``bench.memory``: peak-RSS sampling of a process tree.
- ``bench.model``: the result records.
- ``bench.runner``: the PUT/GET measurement loop over one server (both suites).
- ``bench.dav_runner``: the WebDAV measurements over one server.
- ``bench.suites``: start, measure and stop each server of a suite in turn.
- ``bench.tables``: rows and text tables shared by both reports.
- ``bench.report``, ``bench.dav_report``: the printed report and the JSON file.
"""
