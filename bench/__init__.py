"""Benchmark of the gateway against reference servers started in the same run.

``python -m bench`` (``make bench``) runs two suites, each starting its servers one at a
time on loopback in a fresh temporary directory:

- ``s3``: PUT and GET of the same test files through the S3 API with curl and boto3,
  against SeaweedFS and moto; MiB/s per server with the gateway's ratios, the gateway's
  peak RSS growth during uploads, and its backend bytes per logical byte. Then, on each
  server started afresh, a multipart upload of each file in 8 MiB parts by 4 threads
  and 1,000 4 KiB PUTs by 8 clients, with the gateway's targets against SeaweedFS.
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
- ``bench.multipart``: a call-by-call multipart upload by parallel threads, and its checks.
- ``bench.s3_puts``: small S3 PUTs by parallel boto3 clients.
- ``bench.dav_http``: WebDAV requests over keep-alive connections, parallel PUTs.
- ``bench.memory``: peak-RSS sampling of a process tree.
- ``bench.model``: the result records.
- ``bench.runner``: the PUT/GET measurement loop over one server (both suites).
- ``bench.s3_runner``: the parallel S3 measurements over one server.
- ``bench.dav_runner``: the WebDAV measurements over one server.
- ``bench.suites``: start, measure and stop each server of a suite in turn.
- ``bench.tables``: rows, figures, targets and text tables shared by both reports.
- ``bench.s3_report``, ``bench.dav_report``: each suite's part of the report and JSON.
- ``bench.report``: the printed report and the JSON file.

Outside the two suites:

- ``bench.clamd_service``: a private clamd with an EICAR signature database (the test
  suite's clamd fixtures use it too).
- ``bench.scan``: clamd INSTREAM throughput alone (``python -m bench.scan``).
"""
