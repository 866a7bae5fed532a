"""``ovms bench``: closed-loop load against a KServe v2 server, beside the same model run in-process.

Public surface: ``ovms_cli.bench.runner`` (``BenchOptions``, ``run_bench``) and ``BenchError``.
The package ``__init__`` imports nothing, so that load workers (spawned processes importing
``ovms_cli.bench.load``) start without OpenVINO.
"""
