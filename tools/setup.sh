#!/usr/bin/env bash
# Installs everything Traitscope needs on a Debian 12 machine: the Debian
# packages listed in .ci/packages.txt (apt-get) and the face-api weights
# (npm, pinned in package.json).  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' .ci/packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm; NodeSource's includes it (and conflicts
# with Debian's npm), so ask for npm only when there is none.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages already installed"
fi

if [ -f .ci/npm-setup.sh ]; then
  bash .ci/npm-setup.sh
fi
