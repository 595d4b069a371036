#!/usr/bin/env bash
# Debian packages the interop tests need: SIP peers, RTSP server, media tools, Chromium, fonts.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(openssl sqlite3 sip-tester baresip linphone-cli sipvicious sox libsox-fmt-all ffmpeg poppler-utils poppler-data chromium fonts-noto-cjk fonts-ipaexfont-gothic
      gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
      kamailio  # the SIP load balancer in front of two telephony nodes (tests/deploy/test_kamailio.py)
      curl)  # curl: the setup-claim attack test (tests/security/test_setup_claim.py)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
