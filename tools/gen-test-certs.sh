#!/usr/bin/env bash
# Makes the certificates tests use, with openssl, into DIR (never committed):
#   ca.crt ca.key            root CA (also as trusted_ca_cert.crt)
#   intermediate.crt/.key    signed by the root
#   server.crt server.key    leaf for localhost, 127.0.0.1, backend{1,2,3}.example.com,
#                            signed by the intermediate; server.crt carries the chain
#   backend.crt backend.key  the same leaf under the stream guide's names
#   client.pem client.key    client leaf signed by the root (the guides' client certificate)
set -euo pipefail
dir=${1:?usage: gen-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f server.crt ] && exit 0
days=3650
subj() { echo "/O=ngxlite tests/CN=$1"; }
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -subj "$(subj 'ngxlite test root CA')" -days $days \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.crt

key intermediate.key
openssl req -new -key intermediate.key -subj "$(subj 'ngxlite test intermediate CA')" -out intermediate.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in intermediate.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
  -extfile ca.ext -out intermediate.crt 2>/dev/null

key server.key
openssl req -new -key server.key -subj "$(subj localhost)" -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:backend1.example.com,DNS:backend2.example.com,DNS:backend3.example.com\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA intermediate.crt -CAkey intermediate.key -CAcreateserial \
  -days $days -extfile server.ext -out server.leaf.crt 2>/dev/null
cat server.leaf.crt intermediate.crt > server.crt

key client.key
openssl req -new -key client.key -subj "$(subj 'ngxlite test client')" -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
  -extfile client.ext -out client.pem 2>/dev/null

cp ca.crt trusted_ca_cert.crt
cp server.crt backend.crt
cp server.key backend.key
rm -f ./*.csr ./*.ext ./*.srl
