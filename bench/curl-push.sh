#!/usr/bin/env bash
# The floor for a push: uploads every blob of an OCI layout's image with plain curl
# (POST, then one PUT with the bytes), then PUTs the manifest. No existence checks, no auth.
# Usage: curl-push.sh LAYOUT_DIR HOST:PORT REPO TAG
set -euo pipefail
layout=$1 registry=$2 repo=$3 tag=$4
manifest_digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$layout")
manifest="$layout/blobs/sha256/${manifest_digest#sha256:}"
for digest in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join([m["config"]["digest"]]+[l["digest"] for l in m["layers"]]))' "$manifest"); do
  location=$(curl -sS -o /dev/null -D - -X POST "http://$registry/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case "$location" in http*) ;; *) location="http://$registry$location" ;; esac
  curl -sS -o /dev/null -f -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$layout/blobs/sha256/${digest#sha256:}" "$location&digest=$digest"
done
curl -sS -o /dev/null -f -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$manifest" "http://$registry/v2/$repo/manifests/$tag"
