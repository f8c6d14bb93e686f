"""Workload (c): a large artifact (`mb` MiB of random bytes) from start to the next step (twin of
examples/bigdata)."""

import os
import zlib

from metaflow import FlowSpec, Parameter, step


class BigdataFlow(FlowSpec):
    """start makes the blob and its checksum; consume reads it back and checks it."""

    mb = Parameter("mb", help="Size of the blob in MiB", default=100, type=int)

    @step
    def start(self):
        self.blob = os.urandom(self.mb << 20)
        self.checksum = zlib.crc32(self.blob)
        self.next(self.consume)

    @step
    def consume(self):
        self.size = len(self.blob)
        self.verified = zlib.crc32(self.blob) == self.checksum
        self.next(self.end)

    @step
    def end(self):
        assert self.verified
        print("blob of", self.size, "bytes, verified:", self.verified)


if __name__ == "__main__":
    BigdataFlow()
