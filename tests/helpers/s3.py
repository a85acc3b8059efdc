"""A local S3 server (moto) on 127.0.0.1 with one empty bucket, for studies stored on s3://."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer

from tests.helpers.cluster import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "hpray-test",
    "AWS_SECRET_ACCESS_KEY": "hpray-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "hpray-studies"


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """The environment that points AWS clients (pyarrow's too) at a fresh local S3 server."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=BUCKET)
        yield env
    finally:
        server.stop()
