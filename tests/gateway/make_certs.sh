#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/gateway/make_certs.sh DIR: the certificates the gateway's TLS tests use, made fresh
# each run with Debian's openssl (nothing secret is committed), P-256 keys:
#   ca.crt          the test CA                      other-ca.crt   a CA nobody trusts
#   server          localhost and 127.0.0.1, by ca   wrong-host     otherhost.example, by ca
#   unknown-ca      localhost, by other-ca           expired        localhost, by ca, expired
#   host-a          a client certificate, CN=host-a, DNS:host-a.example, by ca
# Each NAME has NAME.crt and NAME.key.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2"
}
cert() {  # cert NAME CA SAN DAYS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" \
    -days "$4" -extfile "$1.ext" 2>/dev/null
}

ca ca ferry-test-ca
ca other-ca ferry-other-ca
cert server ca "DNS:localhost,IP:127.0.0.1" 2
cert wrong-host ca "DNS:otherhost.example" 2
cert unknown-ca other-ca "DNS:localhost,IP:127.0.0.1" 2
cert expired ca "DNS:localhost,IP:127.0.0.1" -1
cert host-a ca "DNS:host-a.example" 2
