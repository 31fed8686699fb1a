"""The gateway starts on every database/backend combination and round-trips an object."""

from typing import Any


def test_put_get_delete_round_trip(s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    assert s3_client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"
    s3_client.delete_object(Bucket=bucket, Key="a/b.txt")
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
