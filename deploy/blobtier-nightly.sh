#!/bin/sh
# Nightly blobtier job for cron or a systemd service. Exits with blobtier's code:
# 0 success, 1 finished with item failures or held moves (coverage guard), 2 could not run.
set -eu
BLOBTIER_CLIENT_KEY="$(cat /etc/blobtier/client-key)"
export BLOBTIER_CLIENT_KEY
exec blobtier --config /etc/blobtier/blobtier.toml --log-format json run
