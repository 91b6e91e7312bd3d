#!/usr/bin/env bash
# Regenerates openssl.tsv: AES-256-CBC known-answer vectors made with the OpenSSL command line
# alone (no code of ours). Run from this folder: bash make.sh > openssl.tsv
#
# For each case:
#   value = openssl enc -aes-256-cbc -K <key hex> -iv <iv hex> -a -A      (PKCS#7 padding)
#   iv    = base64 of the 16 IV bytes                                     (openssl base64 -A)
#   mac   = openssl dgst -sha256 -mac HMAC -macopt hexkey:<key hex>  over  iv ‖ value
set -euo pipefail

hex2bin() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

printf 'name\tkey_hex\tiv_hex\tplaintext_hex\tiv_b64\tvalue_b64\tmac_hex\n'
row() {
  local name=$1 key=$2 iv=$3 pt_hex=$4
  local iv_b64 value mac
  iv_b64=$(hex2bin "$iv" | openssl base64 -A)
  value=$(hex2bin "$pt_hex" | openssl enc -aes-256-cbc -K "$key" -iv "$iv" -a -A)
  mac=$(printf '%s%s' "$iv_b64" "$value" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -r | cut -d' ' -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$key" "$iv" "$pt_hex" "$iv_b64" "$value" "$mac"
}
hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=$(hexof 'Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a')   # a 32-character secret used as its bytes
IV1=0f0e0d0c0b0a09080706050403020100
IV2=a1b2c3d4e5f60718293a4b5c6d7e8f90

row empty "$K1" "$IV1" ""
row one_byte "$K1" "$IV1" "$(hexof '{')"
row fifteen "$K1" "$IV2" "$(hexof '{"a":"bcdefgh"}')"
row block_aligned_16 "$K1" "$IV1" "$(hexof '{"a":"bcdefghi"}')"
row block_aligned_32 "$K2" "$IV2" "$(hexof '{"type":"webhook.test","x":"yz"}')"
row envelope "$K2" "$IV1" "$(hexof '{"id":"evt_01JDX3V4S5Q8K9M2N7P6R5T4W3","type":"sales.transaction.refunded","timestamp":"2026-11-23T09:30:00Z","data":{"id":"tr_1001","amount":{"amount":4990,"currency":"EUR"},"customer":{"email":"ada@example.com"},"reason":"requested_by_customer"}}')"
row binary_256 "$K1" "$IV2" "$(for i in $(seq 0 255); do printf '%02x' "$i"; done)"
