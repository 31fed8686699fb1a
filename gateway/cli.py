"""The ``gateway`` command: serve, worker, jobs, migrate, users, keys, tokens, buckets, gc,
fsck, stats, tls; and the API client: push, pull, sync."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gateway.api.signing_keys import new_signing_key
from gateway.client.commands import add_client_commands
from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.core.identity import (
    SYSTEM,
    ensure_admin,
    hash_api_token,
    hash_password,
    new_access_key_id,
    new_api_token,
    new_secret,
)
from gateway.core.keyring import generate_master_key
from gateway.core.scanning import OversizePolicy
from gateway.core.storage import Storage
from gateway.core.upload_expiry import expire_uploads
from gateway.errors import BucketNotFoundError, GatewayError, NotFoundError
from gateway.ports import ApiCredentialStore, Scanner, ScannerUnavailable
from gateway.records import (
    GRANT_PERMISSIONS,
    JOB_FAILED,
    JOB_STATES,
    Bucket,
    Job,
    JobStats,
    User,
)
from gateway.settings import SIGNING_ALGORITHMS, Settings, SettingsError, load_settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": args.data_dir,
        "s3_listen": args.s3_listen,
        "http_listen": args.http_listen,
        "database_url": args.database_url,
        "backend_url": args.backend_url,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "master_key_file": args.master_key_file,
    }
    return load_settings(args.config, overrides=overrides)


def _storage(settings: Settings, *, auto_migrate: bool = True) -> Storage:
    from gateway.server import open_storage

    return open_storage(settings, auto_migrate=auto_migrate)


def _scanner_line(settings: Settings, scanner: Scanner) -> str:
    """What the banner says of malware scanning, asking clamd whether it answers."""
    if settings.scanner_url == "none":
        return "none (scanning disabled: objects are served unscanned)"
    try:
        scanner.ping()
        state = ""
    except ScannerUnavailable as exc:
        state = f"\n                NOT ANSWERING: {exc}"
    larger = {
        OversizePolicy.QUARANTINE: "quarantined",
        OversizePolicy.FLAG: "served flagged as unscanned",
    }[settings.scan_oversize_policy]
    return (
        f"{settings.scanner_url}   (objects up to {scanner.max_bytes} bytes; larger ones "
        f"{larger}){state}"
    )


def _print_banner(settings: Settings, storage: Storage, scanner: Scanner) -> None:
    boot = ensure_admin(storage.metadata, settings.admin)
    s3_url = f"{settings.url_scheme}://{settings.s3_listen}"
    http_url = f"{settings.url_scheme}://{settings.http_listen}"
    lines = [
        "",
        "Storage gateway is running",
        f"  S3 API        {s3_url}   (region {settings.region}, path-style or virtual-hosted)",
        f"  WebDAV        {http_url}/dav/   (HTTP Basic: user and password)",
        f"  native API    {http_url}/v1/    (POST /v1/auth/token; {http_url}/v1/openapi.json)",
        f"  health        {http_url}/healthz",
        f"  metrics       {http_url}/metrics   "
        + ("(bearer token)" if settings.metrics_token else "(loopback clients only)"),
        f"  metadata      {_redact(settings.effective_database_url)}",
        f"  backend       {settings.effective_backend_url}",
        f"  jobs          {settings.worker_threads} worker threads (`gateway jobs` shows the queue)"
        if settings.worker_threads
        else "  jobs          no workers here (GATEWAY_WORKER_THREADS=0): run `gateway worker`",
        f"  scanner       {_scanner_line(settings, scanner)}",
    ]
    if settings.tls_cert is not None:
        lines.append(f"  TLS           certificate {settings.tls_cert}")
    if storage.chunks.encrypted:
        lines.append("  encryption    at rest, AES-256-GCM per bucket owner")
    lines += [
        "",
        f"  admin user    {boot.user.name}",
        f"  access key    {boot.access_key_id}",
    ]
    if boot.generated_password:
        lines.append(f"  password      {boot.generated_password}")
    if boot.generated_secret:
        lines.append(f"  secret key    {boot.generated_secret}")
    if boot.generated:
        lines += ["", "  These generated credentials are shown only this once: keep them now."]
    else:
        lines.append(
            "  secret key    (as set before; `gateway key create <user>` makes a new pair)"
        )
    lines += ["", f"  aws --endpoint-url {s3_url} s3 ls"]
    if settings.tls_cert is not None:
        lines.append(f"  (self-signed certificate: add --ca-bundle {settings.tls_cert})")
    lines.append("")
    print("\n".join(lines), flush=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate if needed, ensure the admin exists, and serve until interrupted."""
    from gateway.allocator import tune_allocator
    from gateway.server import listener_tls, serve_forever
    from gateway.workers import scanner_from_settings

    tune_allocator()
    settings = _settings(args)
    tls = listener_tls(settings)
    scanner = scanner_from_settings(settings)
    storage = _storage(settings)
    _print_banner(settings, storage, scanner)
    serve_forever(settings, storage, tls)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """Run pipeline jobs in this process until SIGINT or SIGTERM (the server's own
    workers do the same; this adds capacity)."""
    from gateway.workers import run_worker_forever

    settings = _settings(args)
    if args.threads is not None and args.threads < 1:
        raise SettingsError("--threads must be at least 1")
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()] if args.kinds else None
    storage = _storage(settings)
    try:
        run_worker_forever(settings, storage, args.threads or settings.worker_threads or 2, kinds)
    finally:
        storage.close()
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    """Show the job queue (depth per kind and state, parked failures); ``retry ID``
    re-queues a parked job, ``probe N`` enqueues N probe jobs."""
    from gateway.core.pipeline.probe import PROBE
    from gateway.workers import open_job_queue

    settings = _settings(args)
    storage = _storage(settings)
    try:
        queue = open_job_queue(settings, storage)
        if args.action == "retry":
            if args.number is None:
                raise SettingsError("usage: gateway jobs retry ID")
            if not queue.retry(args.number):
                print(f"gateway: no parked (failed) job {args.number}", file=sys.stderr)
                return EXIT_PROBLEMS
            print(f"job {args.number} queued again")
            return EXIT_OK
        if args.action == "probe":
            count = 1 if args.number is None else args.number
            if count < 1:
                raise SettingsError("usage: gateway jobs probe N (N >= 1)")
            payload = {"seconds": args.seconds} if args.seconds else {}
            ids = queue.enqueue_many(PROBE, [payload] * count)
            print(f"enqueued {len(ids)} probe jobs (ids {ids[0]}..{ids[-1]})")
            return EXIT_OK
        _print_jobs(queue.stats(), queue.list_jobs(JOB_FAILED, args.limit))
        return EXIT_OK
    finally:
        storage.close()


def _print_jobs(stats: JobStats, parked: list[Job]) -> None:
    print(f"{'kind':<16} " + " ".join(f"{state:>9}" for state in JOB_STATES))
    for kind in sorted({kind for kind, _ in stats.depth}):
        counts = " ".join(f"{stats.depth.get((kind, state), 0):>9}" for state in JOB_STATES)
        print(f"{kind:<16} {counts}")
    oldest = stats.oldest_queued_seconds
    print(f"oldest queued job: {'none' if oldest is None else f'{oldest:.1f} s old'}")
    print(f"parked (failed) jobs: {stats.failed}")
    for job in parked:
        finished = f"{job.finished_at:%Y-%m-%d %H:%M:%S}" if job.finished_at else "?"
        print(
            f"  {job.id}\t{job.kind}\tattempts {job.attempts}/{job.max_attempts}\t"
            f"{finished}\t{job.last_error or ''}"
        )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply database migrations up to the newest."""
    from adapters.sql.engine import migrate

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.effective_database_url)
    print(f"database at {_redact(settings.effective_database_url)} is up to date")
    return EXIT_OK


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user with a password and a first access key pair, printed once."""
    storage = _storage(_settings(args))
    password = args.password or new_secret()[:24]
    user = storage.metadata.create_user(args.name, hash_password(password), is_admin=args.admin)
    key = storage.metadata.create_access_key(user.name, new_access_key_id(), new_secret())
    storage.metadata.record_audit(SYSTEM, "CreateUser", user.name)
    print(f"user        {user.name}{' (admin)' if user.is_admin else ''}")
    if not args.password:
        print(f"password    {password}")
    print(f"access key  {key.access_key_id}\nsecret key  {key.secret}")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    """List users."""
    storage = _storage(_settings(args))
    for user in storage.metadata.list_users():
        print(f"{user.name}\t{'admin' if user.is_admin else 'user'}\t{user.created_at:%Y-%m-%d}")
    return EXIT_OK


def cmd_user_remove(args: argparse.Namespace) -> int:
    """Remove a user who owns no buckets."""
    storage = _storage(_settings(args))
    storage.metadata.remove_user(args.name)
    storage.metadata.record_audit(SYSTEM, "RemoveUser", args.name)
    print(f"removed user {args.name}")
    return EXIT_OK


def cmd_key_create(args: argparse.Namespace) -> int:
    """Create an access key pair for a user; the secret is printed once."""
    storage = _storage(_settings(args))
    key = storage.metadata.create_access_key(args.user, new_access_key_id(), new_secret())
    storage.metadata.record_audit(SYSTEM, "CreateAccessKey", f"{args.user} {key.access_key_id}")
    print(f"access key  {key.access_key_id}\nsecret key  {key.secret}")
    return EXIT_OK


def cmd_key_list(args: argparse.Namespace) -> int:
    """List access keys (never their secrets)."""
    storage = _storage(_settings(args))
    for key in storage.metadata.list_access_keys(args.user):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.access_key_id}\t{key.user_name}\t{key.created_at:%Y-%m-%d}\t{state}")
    return EXIT_OK


def cmd_key_revoke(args: argparse.Namespace) -> int:
    """Revoke an access key for good."""
    storage = _storage(_settings(args))
    storage.metadata.revoke_access_key(args.access_key_id)
    storage.metadata.record_audit(SYSTEM, "RevokeAccessKey", args.access_key_id)
    print(f"revoked {args.access_key_id}")
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace) -> int:
    """Create a bearer token for a user (WebDAV for programs); the token is printed once."""
    storage = _storage(_settings(args))
    token = new_api_token()
    expires = (
        None if args.expires_days is None else datetime.now(UTC) + timedelta(days=args.expires_days)
    )
    record = storage.metadata.create_api_token(args.user, args.name, hash_api_token(token), expires)
    storage.metadata.record_audit(SYSTEM, "CreateApiToken", f"{args.user} {record.id}")
    print(f"id     {record.id}\ntoken  {token}")
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace) -> int:
    """List bearer tokens (never the tokens themselves)."""
    storage = _storage(_settings(args))
    for token in storage.metadata.list_api_tokens(args.user):
        if token.revoked_at:
            state = f"revoked {token.revoked_at:%Y-%m-%d}"
        elif token.expires_at:
            state = f"expires {token.expires_at:%Y-%m-%d %H:%M}"
        else:
            state = "active"
        print(f"{token.id}\t{token.user_name}\t{token.name}\t{token.created_at:%Y-%m-%d}\t{state}")
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a bearer token for good."""
    storage = _storage(_settings(args))
    storage.metadata.revoke_api_token(args.token_id)
    storage.metadata.record_audit(SYSTEM, "RevokeApiToken", str(args.token_id))
    print(f"revoked token {args.token_id}")
    return EXIT_OK


def _credentials(args: argparse.Namespace) -> ApiCredentialStore:
    from gateway.server import api_credentials

    return api_credentials(_storage(_settings(args)))


def cmd_signing_key_list(args: argparse.Namespace) -> int:
    """List the keys that sign native-API tokens and pre-signed URLs (never the keys)."""
    for key in _credentials(args).signing_keys():
        state = "verifies only" if key.retired_at else "signs"
        print(f"{key.kid}\t{key.algorithm}\t{key.created_at:%Y-%m-%d %H:%M}\t{state}")
    return EXIT_OK


def cmd_signing_key_rotate(args: argparse.Namespace) -> int:
    """Sign with a new key from now on; the old ones keep verifying what they signed."""
    settings = _settings(args)
    credentials = _credentials(args)
    now = datetime.now(UTC)
    old = [key for key in credentials.signing_keys() if key.retired_at is None]
    key = new_signing_key(args.algorithm or settings.api_signing_algorithm, now)
    credentials.add_signing_key(key)
    for previous in old:
        credentials.retire_signing_key(previous.kid, now)
    print(f"signing with {key.kid} ({key.algorithm}); running gateways switch within a minute")
    return EXIT_OK


def cmd_signing_key_remove(args: argparse.Namespace) -> int:
    """Delete a signing key: every token and URL it signed stops working."""
    if not _credentials(args).remove_signing_key(args.kid):
        print(f"gateway: no signing key {args.kid}", file=sys.stderr)
        return EXIT_USAGE
    print(f"removed signing key {args.kid}")
    return EXIT_OK


def cmd_bucket_anonymous(args: argparse.Namespace) -> int:
    """Open a bucket to reading without credentials (``read``) or close it (``none``)."""
    storage = _storage(_settings(args))
    bucket = storage.metadata.get_bucket(args.bucket)
    if bucket is None:
        raise BucketNotFoundError(f"no bucket {args.bucket!r}")
    storage.metadata.set_bucket_anonymous_read(bucket, args.access == "read", SYSTEM)
    print(f"bucket {bucket.name}: anonymous access {args.access}")
    return EXIT_OK


def _bucket_and_user(storage: Storage, bucket_name: str, user_name: str) -> tuple[Bucket, User]:
    bucket = storage.metadata.get_bucket(bucket_name)
    if bucket is None:
        raise BucketNotFoundError(f"no bucket {bucket_name!r}")
    user = storage.metadata.get_user(user_name)
    if user is None:
        raise NotFoundError(f"no user {user_name!r}")
    return bucket, user


def cmd_bucket_grant(args: argparse.Namespace) -> int:
    """Let a user who does not own a bucket read it (``read``) or also write it (``write``)
    over every front end; replaces the user's earlier grant."""
    storage = _storage(_settings(args))
    try:
        bucket, user = _bucket_and_user(storage, args.bucket, args.user)
        storage.metadata.grant_bucket(bucket, user.id, args.permission, SYSTEM)
    finally:
        storage.close()
    print(f"bucket {bucket.name}: {user.name} may {args.permission}")
    return EXIT_OK


def cmd_bucket_revoke(args: argparse.Namespace) -> int:
    """Take back a user's grant on a bucket."""
    storage = _storage(_settings(args))
    try:
        bucket, user = _bucket_and_user(storage, args.bucket, args.user)
        revoked = storage.metadata.revoke_bucket(bucket, user.id, SYSTEM)
    finally:
        storage.close()
    if not revoked:
        print(f"gateway: {user.name} holds no grant on {bucket.name}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"bucket {bucket.name}: grant of {user.name} revoked")
    return EXIT_OK


def cmd_bucket_grants(args: argparse.Namespace) -> int:
    """List a bucket's owner and grants: user, permission."""
    storage = _storage(_settings(args))
    try:
        bucket = storage.metadata.get_bucket(args.bucket)
        if bucket is None:
            raise BucketNotFoundError(f"no bucket {args.bucket!r}")
        grants = storage.metadata.bucket_grants(bucket)
    finally:
        storage.close()
    print(f"{bucket.owner_name}\towner")
    for grant in grants:
        print(f"{grant.user_name}\t{grant.permission}")
    return EXIT_OK


def cmd_bucket_scan_policy(args: argparse.Namespace) -> int:
    """Set a bucket's malware scan policy: ``async`` (serve at once, block once found
    infected) or ``strict`` (serve only after a clean verdict)."""
    storage = _storage(_settings(args))
    try:
        bucket = storage.set_scan_policy(args.bucket, args.policy, SYSTEM)
    finally:
        storage.close()
    print(f"bucket {bucket.name}: scan policy {bucket.scan_policy}")
    return EXIT_OK


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    """List quarantined object versions: bucket, key, version id, status, signature."""
    storage = _storage(_settings(args))
    try:
        found = storage.quarantined(args.limit)
    finally:
        storage.close()
    for bucket_name, obj in found:
        print(
            f"{bucket_name}\t{obj.key}\t{obj.version_id}\t{obj.scan_status}"
            f"\t{obj.scan_signature or ''}"
        )
    print(f"{len(found)} quarantined version(s)", file=sys.stderr)
    return EXIT_OK


def cmd_quarantine_remove(args: argparse.Namespace) -> int:
    """Delete a key's quarantined versions for good (or only ``--version ID``), audited."""
    storage = _storage(_settings(args))
    try:
        removed = storage.remove_quarantined(args.bucket, args.key, args.version, SYSTEM)
    finally:
        storage.close()
    for obj in removed:
        print(f"removed {args.bucket}/{obj.key} version {obj.version_id}")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    """Abort expired multipart uploads, then delete chunks no object references, after
    the grace period."""
    settings = _settings(args)
    storage = _storage(settings)
    grace = settings.gc_grace_seconds if args.grace_seconds is None else args.grace_seconds
    expired = 0
    if settings.multipart_expiry_seconds:
        expired = expire_uploads(storage.metadata, settings.multipart_expiry_seconds)
    report = collect_garbage(storage.metadata, storage.blobs, grace)
    print(
        f"expired {expired} abandoned multipart uploads; "
        f"deleted {report.chunks_deleted} chunks ({report.bytes_freed} bytes) and "
        f"{report.orphan_blobs_deleted} orphaned blobs"
    )
    return EXIT_OK


def cmd_fsck(args: argparse.Namespace) -> int:
    """Verify every chunk, reference count and manifest; exit 1 when anything is wrong."""
    storage = _storage(_settings(args))
    total = storage.metadata.count_chunks()
    with tqdm(total=total, unit="chunk", disable=args.quiet, file=sys.stderr) as bar:
        report = fsck(storage.metadata, storage.chunks, progress=lambda done: bar.update(done))
    for label, keys in (
        ("missing", report.missing),
        ("corrupt", report.corrupt),
        ("unreadable", report.unreadable),
    ):
        for key in keys:
            print(f"{label}: {key}")
    for content_id, stored, real in report.refcount_mismatches:
        print(f"refcount: chunk {content_id} says {stored}, manifests say {real}")
    for problem in report.manifest_problems:
        print(f"manifest: {problem}")
    verdict = "all well" if report.ok else "PROBLEMS FOUND"
    print(f"checked {report.checked} chunks: {verdict}")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_stats(args: argparse.Namespace) -> int:
    """Print object and storage totals with the dedup and compression ratios."""
    stats = _storage(_settings(args)).stats()
    print(
        f"objects            {stats.objects}\n"
        f"logical bytes      {stats.logical_bytes}\n"
        f"unique bytes       {stats.unique_bytes}\n"
        f"stored bytes       {stats.stored_bytes}\n"
        f"chunks             {stats.chunks}\n"
        f"dedup ratio        {stats.dedup_ratio:.2f}\n"
        f"compression ratio  {stats.compression_ratio:.2f}\n"
        f"overall ratio      {stats.dedup_ratio * stats.compression_ratio:.2f}"
    )
    return EXIT_OK


def cmd_tls_self_signed(args: argparse.Namespace) -> int:
    """Write a self-signed certificate for localhost and its key (for tests and local use)."""
    from gateway.tls import write_self_signed

    directory = args.dir or _settings(args).data_dir / "tls"
    pair = write_self_signed(directory, days=args.days, force=args.force)
    print(
        f"certificate  {pair.cert}   (localhost, 127.0.0.1, ::1; {args.days} days)\n"
        f"key          {pair.key}   (mode 0600)\n\n"
        f"serve:  gateway serve --tls-cert {pair.cert} --tls-key {pair.key}\n"
        f"trust:  aws --ca-bundle {pair.cert}, curl --cacert {pair.cert}, "
        f"boto3 verify={str(pair.cert)!r}"
    )
    return EXIT_OK


def cmd_master_key_generate(args: argparse.Namespace) -> int:
    """Print a new random master key for encryption at rest (base64 of 32 bytes)."""
    print(generate_master_key())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML settings file")
    common.add_argument("--data-dir", help="data directory (GATEWAY_DATA_DIR)")
    common.add_argument("--s3-listen", help="S3 API HOST:PORT (GATEWAY_S3_LISTEN)")
    common.add_argument("--http-listen", help="HTTP HOST:PORT (GATEWAY_HTTP_LISTEN)")
    common.add_argument("--tls-cert", help="PEM certificate: serve HTTPS (GATEWAY_TLS_CERT)")
    common.add_argument("--tls-key", help="PEM private key of --tls-cert (GATEWAY_TLS_KEY)")
    common.add_argument(
        "--master-key-file",
        help="file holding the master key: encrypt at rest (GATEWAY_MASTER_KEY[_FILE])",
    )
    common.add_argument("--database-url", help="SQLAlchemy URL (GATEWAY_DATABASE_URL)")
    common.add_argument("--backend-url", help="file:///path or s3://bucket/prefix?endpoint_url=")
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        group: Any, name: str, handler: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name, parents=[common], help=(handler.__doc__ or "").strip()
        )
        sub.set_defaults(handler=handler)
        return sub

    command(commands, "serve", cmd_serve)
    worker = command(commands, "worker", cmd_worker)
    worker.add_argument("--threads", type=int, help="worker threads (GATEWAY_WORKER_THREADS)")
    worker.add_argument("--kinds", help="only these job kinds, comma-separated (default: all)")
    jobs = command(commands, "jobs", cmd_jobs)
    jobs.add_argument(
        "action",
        nargs="?",
        choices=["list", "retry", "probe"],
        default="list",
        help="list (default), retry ID, or probe N",
    )
    jobs.add_argument("number", nargs="?", type=int, help="the job ID, or how many probes")
    jobs.add_argument("--seconds", type=float, help="probe: hold each job this long")
    jobs.add_argument("--limit", type=int, default=20, help="list: parked jobs shown")
    command(commands, "migrate", cmd_migrate)
    users = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    add = command(users, "add", cmd_user_add)
    add.add_argument("name")
    add.add_argument("--password", help="password (generated and printed when omitted)")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    command(users, "list", cmd_user_list)
    command(users, "remove", cmd_user_remove).add_argument("name")
    keys = commands.add_parser("key", help="manage S3 access keys").add_subparsers(
        dest="action", required=True
    )
    command(keys, "create", cmd_key_create).add_argument("user")
    command(keys, "list", cmd_key_list).add_argument("user", nargs="?")
    command(keys, "revoke", cmd_key_revoke).add_argument("access_key_id")
    tokens = commands.add_parser("token", help="manage bearer tokens").add_subparsers(
        dest="action", required=True
    )
    create_token = command(tokens, "create", cmd_token_create)
    create_token.add_argument("user")
    create_token.add_argument("--name", default="", help="what the token is for")
    create_token.add_argument("--expires-days", type=int, help="lifetime (default: no expiry)")
    command(tokens, "list", cmd_token_list).add_argument("user", nargs="?")
    command(tokens, "revoke", cmd_token_revoke).add_argument("token_id", type=int)
    signing_keys = commands.add_parser(
        "signing-key", help="keys of native-API tokens and pre-signed URLs"
    ).add_subparsers(dest="action", required=True)
    command(signing_keys, "list", cmd_signing_key_list)
    command(signing_keys, "rotate", cmd_signing_key_rotate).add_argument(
        "--algorithm", choices=SIGNING_ALGORITHMS, help="default: GATEWAY_API_SIGNING_ALGORITHM"
    )
    command(signing_keys, "remove", cmd_signing_key_remove).add_argument("kid")
    buckets = commands.add_parser("bucket", help="bucket settings").add_subparsers(
        dest="action", required=True
    )
    anonymous = command(buckets, "anonymous", cmd_bucket_anonymous)
    anonymous.add_argument("bucket")
    anonymous.add_argument("access", choices=["read", "none"])
    grant = command(buckets, "grant", cmd_bucket_grant)
    grant.add_argument("bucket")
    grant.add_argument("user")
    grant.add_argument("permission", choices=list(GRANT_PERMISSIONS))
    revoke = command(buckets, "revoke", cmd_bucket_revoke)
    revoke.add_argument("bucket")
    revoke.add_argument("user")
    command(buckets, "grants", cmd_bucket_grants).add_argument("bucket")
    scan_policy = command(buckets, "scan-policy", cmd_bucket_scan_policy)
    scan_policy.add_argument("bucket")
    scan_policy.add_argument("policy", choices=["async", "strict"])
    quarantine = commands.add_parser(
        "quarantine", help="objects blocked by the malware scan"
    ).add_subparsers(dest="action", required=True)
    command(quarantine, "list", cmd_quarantine_list).add_argument(
        "--limit", type=int, default=1000, help="show at most this many (default: 1000)"
    )
    remove_quarantined = command(quarantine, "remove", cmd_quarantine_remove)
    remove_quarantined.add_argument("bucket")
    remove_quarantined.add_argument("key")
    remove_quarantined.add_argument("--version", help="only this version id")
    gc = command(commands, "gc", cmd_gc)
    gc.add_argument("--grace-seconds", type=int, help="override the configured grace period")
    fsck_parser = command(commands, "fsck", cmd_fsck)
    fsck_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    command(commands, "stats", cmd_stats)
    master_key = commands.add_parser("master-key", help="encryption at rest").add_subparsers(
        dest="action", required=True
    )
    command(master_key, "generate", cmd_master_key_generate)
    tls = commands.add_parser("tls", help="TLS certificates").add_subparsers(
        dest="action", required=True
    )
    self_signed = command(tls, "self-signed", cmd_tls_self_signed)
    self_signed.add_argument("--dir", type=Path, help="where to write (default: <data dir>/tls)")
    self_signed.add_argument("--days", type=int, default=365, help="validity (default: 365)")
    self_signed.add_argument("--force", action="store_true", help="replace existing files")
    add_client_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The client commands report progress themselves; a line per HTTP request drowns it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.handler(args)
    except (SettingsError, GatewayError, ValueError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
