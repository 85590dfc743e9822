#!/bin/bash
# Shared by the `base` and `train` images (both Ubuntu 22.04, so one set of wheels fits both).
#
# 1. The system packages the steps and run-task need. PyICU and eflomal have no wheels for these
#    versions: pip builds them, hence the compiler, the Python headers and ICU's development files.
# 2. The `worker` user (uid and gid 1000: run-task refuses another uid for `worker`). The image
#    itself stays root: run-task starts as root, prepares the caches, then drops to `worker`.
# 3. A virtualenv holding the steps' Python requirements, from the same pinned file the tests
#    install (requirements/steps.txt; the image's PATH puts this virtualenv's python3 first).
#
# 4. Optionally, the model-based cleaners (requirements/cleaners.txt: bicleaner-ai, monocleaner) in a
#    virtualenv of their own: bicleaner-ai pins numpy and TensorFlow versions the steps must not
#    share. Their commands are linked into /usr/local/bin, where the steps call them. monocleaner
#    needs KenLM's Python module (not on PyPI) and fastspell's C++ builds (hunspell, pybind11) first.
#
# Usage: setup-image.sh REQUIREMENTS_FILE [CLEANERS_REQUIREMENTS_FILE]
set -euxo pipefail
requirements="$1"
cleaners="${2:-}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    python3 python3-venv python3-dev \
    build-essential pkg-config libicu-dev \
    git zstd ca-certificates curl \
    ${cleaners:+cmake libboost-all-dev libhunspell-dev hunspell pybind11-dev}
rm -rf /var/lib/apt/lists/*

groupadd --gid 1000 worker
useradd --uid 1000 --gid 1000 --home-dir /builds/worker --create-home --shell /bin/bash worker
mkdir -p /builds/worker/artifacts /builds/worker/fetches /builds/worker/checkouts
chown -R worker:worker /builds/worker

python3 -m venv /opt/steps
/opt/steps/bin/pip install --no-cache-dir --upgrade pip
/opt/steps/bin/pip install --no-cache-dir -r "$requirements"
/opt/steps/bin/python3 -c "import pymarian, sentencepiece, sacrebleu, zstandard, eflomal, icu"

if [ -n "$cleaners" ]; then
    python3 -m venv /opt/cleaners
    /opt/cleaners/bin/pip install --no-cache-dir --upgrade pip pybind11
    /opt/cleaners/bin/pip install --no-cache-dir https://github.com/kpu/kenlm/archive/master.zip
    /opt/cleaners/bin/pip install --no-cache-dir -r "$cleaners"
    for command in bicleaner-ai-classify bicleaner-ai-download monocleaner monocleaner-download; do
        ln -s "/opt/cleaners/bin/$command" "/usr/local/bin/$command"
    done
    bicleaner-ai-classify --help > /dev/null
    monocleaner --help > /dev/null
fi
