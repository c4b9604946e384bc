#!/usr/bin/env bash
# Stops every service the scripts started (each by its recorded pid).
cd "$(dirname "$0")"
for script in ./*.sh; do
    case "$script" in ./common.sh|./stop-all.sh) continue ;; esac
    bash "$script" stop >/dev/null 2>&1 || true
done
