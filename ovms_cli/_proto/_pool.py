"""The descriptor pool of ovms's own stubs.

Client libraries (tritonclient, ovmsclient, tensorflow-serving-api) register the same proto
names (``inference.*``, ``tensorflow.*``) in protobuf's default pool; keeping ours apart lets
both live in one process. Written by hand; everything else in this package is generated.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
