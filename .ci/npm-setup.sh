#!/bin/sh
# npm-setup.sh - installs the npm packages Traitscope reads models from:
# @vladmandic/face-api (pinned in package.json / package-lock.json) into
# ./node_modules, where src/face/model-path.c finds
# node_modules/@vladmandic/face-api/model/.  Runtime needs only face-api;
# the TensorFlow.js devDependencies are for tests/face/make-faceapi-ref.js
# (regenerating reference fixtures): add them with `npm ci` (no --omit).
set -eu
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "npm-setup.sh: npm not found; install Node.js with npm (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
npm ci --omit=dev --no-audit --no-fund
