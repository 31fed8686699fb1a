"""Storage gateway: S3 and WebDAV front ends over deduplicated, compressed chunks."""

__version__ = "0.1.0"
