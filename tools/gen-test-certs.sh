#!/usr/bin/env bash
# Makes the certificates tests use, with openssl, into DIR (never committed):
#   ca.crt ca.key            root CA (also as trusted_ca_cert.crt)
#   intermediate.crt/.key    signed by the root
#   server.crt server.key    leaf for localhost, 127.0.0.1, backend (the stream guide's
#                            upstream name), backend{,1,2,3}.example.com,
#                            signed by the intermediate; server.crt carries the chain
#   backend.crt backend.key  the same leaf under the stream guide's names
#   client.pem client.key    client leaf signed by the root (the guides' client certificate)
#   For the negative matrix (each .pem carries its chain, each with its .key):
#   expired.pem              localhost leaf (intermediate) that expired in 2020
#   wrongname.pem            leaf for wrong.example only (intermediate)
#   revoked.pem              localhost leaf (intermediate), revoked in crl.pem
#   crl.pem                  the root's and the intermediate's CRLs
#   deep.pem                 localhost leaf three CAs below the root (needs depth 3)
#   selfsigned.pem           a self-signed localhost certificate
#   ticket48.key ticket80.key  ssl_session_ticket_key files (random)
#   rsa.pem rsa.key          an RSA localhost leaf (intermediate), beside the ECDSA ones
#   encrypted.key passwords.txt  server.key encrypted, and a password file (2nd line fits)
#   htpasswd                 auth_basic's users, one per password scheme (below)
set -euo pipefail
dir=${1:?usage: gen-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

# htpasswd: one user per password scheme nginx's auth_basic reads, password "pw-USER",
# hashed now with fresh salts: crypt(3)'s DES, MD5, SHA-256, SHA-512 and bcrypt, apr1,
# {PLAIN}, {SHA}, {SSHA}.
if [ ! -f htpasswd ]; then
  {
    echo "# test users"
    echo "md5:$(openssl passwd -1 pw-md5)"
    echo "apr1:$(openssl passwd -apr1 pw-apr1)"
    echo "sha256:$(openssl passwd -5 pw-sha256)"
    echo "sha512:$(openssl passwd -6 pw-sha512):a comment field"
    echo "plain:{PLAIN}pw-plain"
    python3 -W ignore - <<'PY'
import base64, crypt, hashlib, os
print("des:" + crypt.crypt("pw-des", crypt.mksalt(crypt.METHOD_CRYPT)))
print("bcrypt:" + crypt.crypt("pw-bcrypt", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))
print("sha:{SHA}" + base64.b64encode(hashlib.sha1(b"pw-sha").digest()).decode())
salt = os.urandom(8)
print("ssha:{SSHA}" + base64.b64encode(hashlib.sha1(b"pw-ssha" + salt).digest() + salt).decode())
PY
  } > htpasswd
fi
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
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:backend,DNS:backend.example.com,DNS:backend1.example.com,DNS:backend2.example.com,DNS:backend3.example.com\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA intermediate.crt -CAkey intermediate.key -CAcreateserial \
  -days $days -extfile server.ext -out server.leaf.crt 2>/dev/null
cat server.leaf.crt intermediate.crt > server.crt

key client.key
openssl req -new -key client.key -subj "$(subj 'ngxlite test client')" -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
  -extfile client.ext -out client.pem 2>/dev/null

# `openssl ca` for fixed dates and CRLs: one small database per signing CA.
ca_db() {
  mkdir -p "db.$1"; : > "db.$1/index.txt"; echo 1000 > "db.$1/serial"; echo 1000 > "db.$1/crlnumber"
  cat > "db.$1/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
database = db.$1/index.txt
serial = db.$1/serial
crlnumber = db.$1/crlnumber
new_certs_dir = db.$1
certificate = $1.crt
private_key = $1.key
default_md = sha256
default_crl_days = 3650
policy = any
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
EOF
}
# leaf NAME CA SAN [openssl ca options]: NAME.pem (leaf and CA chain) and NAME.key.
leaf() {
  local name=$1 ca=$2 san=$3; shift 3
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$(subj "$name")" -out "$name.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$name.ext"
  openssl ca -batch -config "db.$ca/ca.cnf" -in "$name.csr" -extfile "$name.ext" -out "$name.leaf" -notext "$@" 2>/dev/null
  cat "$name.leaf" "$ca.chain" > "$name.pem"
}
ca_db ca; ca_db intermediate
cp intermediate.crt intermediate.chain
leaf expired intermediate DNS:localhost -startdate 20200101000000Z -enddate 20200201000000Z
leaf wrongname intermediate DNS:wrong.example -days $days
leaf revoked intermediate DNS:localhost -days $days
openssl ca -batch -config db.intermediate/ca.cnf -revoke revoked.leaf 2>/dev/null
openssl ca -batch -config db.intermediate/ca.cnf -gencrl -out intermediate.crl 2>/dev/null
openssl ca -batch -config db.ca/ca.cnf -gencrl -out ca.crl 2>/dev/null
cat ca.crl intermediate.crl > crl.pem
# A chain one CA deeper than server.crt's: root -> outer -> inner -> leaf.
for ca in outer inner; do
  key $ca.key
  openssl req -new -key $ca.key -subj "$(subj "ngxlite test $ca CA")" -out $ca.csr
done
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > deepca.ext
openssl x509 -req -in outer.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days -extfile deepca.ext -out outer.crt 2>/dev/null
openssl x509 -req -in inner.csr -CA outer.crt -CAkey outer.key -CAcreateserial -days $days -extfile deepca.ext -out inner.crt 2>/dev/null
ca_db inner
cat inner.crt outer.crt > inner.chain
leaf deep inner DNS:localhost -days $days
key selfsigned.key
openssl req -x509 -new -key selfsigned.key -subj "$(subj localhost)" -days $days -addext subjectAltName=DNS:localhost \
  -out selfsigned.pem

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl req -new -key rsa.key -subj "$(subj rsa)" -out rsa.csr
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > rsa.ext
openssl x509 -req -in rsa.csr -CA intermediate.crt -CAkey intermediate.key -CAcreateserial -days $days \
  -extfile rsa.ext -out rsa.leaf 2>/dev/null
cat rsa.leaf intermediate.crt > rsa.pem
openssl pkey -in server.key -aes256 -passout pass:ngxlite-secret -out encrypted.key
printf 'not-this-one\nngxlite-secret\n' > passwords.txt
head -c 48 /dev/urandom > ticket48.key
head -c 80 /dev/urandom > ticket80.key

cp ca.crt trusted_ca_cert.crt
cp server.crt backend.crt
cp server.key backend.key
rm -rf ./*.csr ./*.ext ./*.srl ./*.leaf ./*.chain ./db.*
