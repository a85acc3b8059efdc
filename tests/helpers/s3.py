"""A local S3 server (moto) on 127.0.0.1 with one empty bucket, for studies stored on s3://."""

from __future__ import annotations

import contextlib
import logging
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


class LocalS3:
    """The server, which can be stopped and started again on its port: what it holds lives in
    this process (moto's backends), so an outage loses nothing, as a real store's would not."""

    def __init__(self) -> None:
        self.port = free_port()
        self.env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}"}
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request, else
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@contextlib.contextmanager
def local_s3() -> Iterator[LocalS3]:
    """A fresh local S3 server with the bucket ``BUCKET`` in it."""
    store = LocalS3()
    store.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=store.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=store.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=store.env["AWS_SECRET_ACCESS_KEY"],
            region_name=store.env["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=BUCKET)
        yield store
    finally:
        store.stop()


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """The environment that points AWS clients (pyarrow's too) at a fresh local S3 server."""
    with local_s3() as store:
        yield store.env
