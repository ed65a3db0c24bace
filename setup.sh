#!/usr/bin/env bash
# Sets up everything edge needs on a Debian or Ubuntu machine, then edge itself:
#   1. the packages of debian-packages.txt that are missing, with apt-get (through sudo when not root);
#   2. .venv, a virtual environment ($PYTHON, else python3; 3.11 or newer) holding edge, installed
#      editable with its test extras, so .venv/bin/edge and .venv/bin/pytest run this checkout.
# Running it again installs only what is missing. The README's first command:
#   ./setup.sh && .venv/bin/edge serve
set -euo pipefail
cd "$(dirname "$0")"
export PYTHON="${PYTHON:-python3}"

say() { echo "setup.sh: $*"; }
fail() { echo "setup.sh: $*" >&2; exit 1; }

# Each line of debian-packages.txt: <package> [<command that succeeds when it is not needed>] [# why].
present() {  # present PACKAGE CHECK
    if [[ -n "$2" ]] && bash -c "$2" >/dev/null 2>&1; then return 0; fi
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q " installed$"
}
missing=()
while IFS= read -r line; do
    line="${line%%#*}"
    read -r package check <<<"$line" || true
    [[ -z "${package:-}" ]] && continue
    present "$package" "${check:-}" || missing+=("$package")
done <debian-packages.txt

if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        fail "this is not a Debian or Ubuntu machine; install what these Debian packages give, then run me again: ${missing[*]}"
    fi
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null || fail "installing ${missing[*]} needs root: run me as root, or install sudo"
        sudo=(sudo)
    fi
    say "installing Debian packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for package in "${missing[@]}"; do
        present "$package" "" || fail "apt-get did not install $package"
    done
else
    say "the Debian packages of debian-packages.txt are all there"
fi

command -v "$PYTHON" >/dev/null || fail "no $PYTHON: set PYTHON to a Python 3.11 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "edge needs Python 3.11 or newer, and $PYTHON is $("$PYTHON" -V 2>&1); install one and run PYTHON=<it> ./setup.sh"
if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "making .venv with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv --clear .venv
fi
say "installing edge and its Python packages into .venv (a few minutes the first time)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
say "ready. Serve the demo: .venv/bin/edge serve    Run the tests: .venv/bin/pytest"
