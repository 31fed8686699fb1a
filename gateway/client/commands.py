"""The client sub-commands of ``gateway``: ``push``, ``pull`` and ``sync``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gateway.client.connection import DEFAULT_URL, ClientError, Connection, Credentials
from gateway.client.sync_engine import SyncEngine
from gateway.client.transfer import TransferOptions, pull, push

EXIT_OK, EXIT_FAILED = 0, 1


def split_destination(destination: str) -> tuple[str, str]:
    """``BUCKET[/PREFIX]`` as (bucket, prefix without surrounding slashes)."""
    bucket, _, prefix = destination.strip("/").partition("/")
    if not bucket:
        raise ClientError(f"{destination!r} names no bucket (BUCKET[/PREFIX])")
    return bucket, prefix.strip("/")


def _connection(args: argparse.Namespace) -> Connection:
    return Connection(args.url, Credentials.from_environment(), ca_file=args.ca_file)


def _options(args: argparse.Namespace, **extra: Any) -> TransferOptions:
    if args.parallel < 1:
        raise ClientError("--parallel must be at least 1")
    state_dir = args.state_dir or TransferOptions().state_dir
    return TransferOptions(parallel=args.parallel, state_dir=state_dir, quiet=args.quiet, **extra)


def cmd_push(args: argparse.Namespace) -> int:
    """Upload files (parallel parts, resumable) into BUCKET[/PREFIX]; prints each file id."""
    bucket, prefix = split_destination(args.destination)
    options = _options(args, wait=not args.no_wait)
    with _connection(args) as conn:
        for name in args.files:
            path = Path(name)
            if not path.is_file():
                raise ClientError(f"{name}: not a regular file")
            remote = f"{prefix}/{path.name}" if prefix else path.name
            pushed = push(conn, path, bucket, remote, options)
            document = pushed.document
            print(
                f"{document['id']}\t{bucket}/{remote}\t{document.get('status')}\t"
                f"sent {pushed.parts_sent} of {pushed.parts_total} parts",
                flush=True,
            )
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    """Download files by id into a folder (parallel ranges, verified, resumable)."""
    options = _options(args)
    with _connection(args) as conn:
        for file_id in args.ids:
            document = conn.json("GET", f"/v1/files/{file_id}/metadata")
            leaf = str(document.get("name") or file_id).rsplit("/", 1)[-1]
            target = args.output / leaf
            pull(conn, file_id, target, options, document)
            print(f"{file_id}\t{target}", flush=True)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    """Two-way sync of a folder with BUCKET[/PREFIX] (once, or --watch)."""
    bucket, prefix = split_destination(args.destination)
    root = Path(args.directory)
    if not root.is_dir():
        raise ClientError(f"{root}: not a folder")
    options = _options(args)
    with _connection(args) as conn:
        engine = SyncEngine(conn, root, bucket, prefix, options)
        try:
            while True:
                print(f"sync {root} <-> {bucket}/{prefix}: {engine.run()}", flush=True)
                if not args.watch:
                    return EXIT_OK
                engine.wait_for_changes(args.interval)
        finally:
            engine.close()


def add_client_commands(commands: Any) -> None:
    """Add ``push``, ``pull`` and ``sync`` to the ``gateway`` sub-command group."""
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--url",
        default=os.environ.get("GATEWAY_URL", DEFAULT_URL),
        help=f"the gateway's HTTP URL (GATEWAY_URL; default {DEFAULT_URL})",
    )
    client.add_argument("--ca-file", help="PEM certificates to trust for HTTPS")
    client.add_argument("--quiet", action="store_true", help="no progress bar")
    client.add_argument("--parallel", type=int, default=4, help="parts in flight (default 4)")
    client.add_argument(
        "--state-dir", type=Path, help="resume records of push (default ~/.cache/gateway)"
    )

    def command(name: str, handler: Any) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, parents=[client], help=(handler.__doc__ or "").strip()
        )
        sub.set_defaults(handler=_reporting(handler))
        return sub

    push_parser = command("push", cmd_push)
    push_parser.add_argument("files", nargs="+", metavar="FILE")
    push_parser.add_argument("destination", metavar="BUCKET[/PREFIX]")
    push_parser.add_argument(
        "--no-wait", action="store_true", help="do not wait for the file to be ready"
    )
    pull_parser = command("pull", cmd_pull)
    pull_parser.add_argument("ids", nargs="+", metavar="ID")
    pull_parser.add_argument("-o", "--output", type=Path, default=Path("."), help="folder")
    sync_parser = command("sync", cmd_sync)
    sync_parser.add_argument("directory", metavar="DIR")
    sync_parser.add_argument("destination", metavar="BUCKET[/PREFIX]")
    mode = sync_parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one run (the default)")
    mode.add_argument("--watch", action="store_true", help="keep syncing as changes come")
    sync_parser.add_argument(
        "--interval", type=int, default=30, help="--watch: longest wait between runs (s)"
    )


def _reporting(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            code: int = handler(args)
        except ClientError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except OSError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("gateway: interrupted; run again to resume", file=sys.stderr)
            return EXIT_FAILED
        return code

    run.__doc__ = handler.__doc__
    return run
