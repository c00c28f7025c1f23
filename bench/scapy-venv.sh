#!/bin/sh
# Makes bench/.venv with Scapy for `scanbench bench gen` (not a test dependency).
set -e
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet scapy
"$here/.venv/bin/python" -c 'import scapy; print("scapy", scapy.VERSION, "in", "'"$here"'/.venv")'
