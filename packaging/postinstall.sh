#!/bin/sh
# Creates the service user and state directory; enables nothing by itself.
set -e
if ! getent group wotchain >/dev/null; then
  groupadd --system wotchain
fi
if ! getent passwd wotchain >/dev/null; then
  useradd --system --gid wotchain --groups dialout --home-dir /var/lib/wotchain --no-create-home \
    --shell /usr/sbin/nologin --comment "WoTChain appliance" wotchain
fi
install -d -m 0700 -o wotchain -g wotchain /var/lib/wotchain
chown root:wotchain /etc/wotchain/wotchain.yaml
chmod 0640 /etc/wotchain/wotchain.yaml
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
