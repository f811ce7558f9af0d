"""The local single-node stack: Kafka (KRaft) and a schema registry from Maven Central.

One implementation used by ``backbone stack``, the Makefile, the test fixtures and CI.
"""

from backbone.clients import Endpoints
from backbone.stack.errors import StackError
from backbone.stack.install import install
from backbone.stack.local import ComponentStatus, LocalStack

__all__ = ["ComponentStatus", "Endpoints", "LocalStack", "StackError", "install"]
