"""Stateful models (spec §9): sequences whose OpenVINO variable state the server keeps between requests."""
