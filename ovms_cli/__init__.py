"""ovms: an OpenVINO model server in Python, speaking the KServe v2 and TensorFlow Serving APIs."""

__version__ = "0.1.0"
