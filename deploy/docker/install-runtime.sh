#!/bin/sh
# Install the server and its runtime dependencies only into a new virtual environment DEST.
# The Dockerfile's build stage runs this, and tests/deploy/test_docker_install.py runs the same
# file in a fresh venv, so what the image installs is what the test serves from.
# Usage: install-runtime.sh DEST [SOURCE]   (SOURCE: the folder holding pyproject.toml, default .)
set -eu
dest=$1
source=${2:-.}
python3 -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --upgrade pip
# A built wheel, not an editable install: the image holds no source tree. The cloud extra brings
# the S3, GCS and Azure SDKs that s3://, gs:// and az:// model paths need.
"$dest/bin/python" -m pip install --quiet "$source[cloud]"
# The health check the image runs, beside the interpreter it runs with.
install -m 0644 "$source/deploy/docker/healthcheck.py" "$dest/healthcheck.py"
