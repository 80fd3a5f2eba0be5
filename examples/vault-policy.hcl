# Vault policy for the gateway of examples/syncgate.yaml: what `syncgate serve`
# needs and nothing more. Load it with
#   vault policy write syncgate-gateway examples/vault-policy.hcl
# and give it to the gateway's AppRole role (token_policies=syncgate-gateway).
# The default policy, which tokens get too, covers renewing the token.

# The credentials' secrets (secrets.path: syncgate on the KV v2 mount
# "secret"): read only.
path "secret/data/syncgate/*" {
  capabilities = ["read"]
}

# The token cache gateway replicas share: entries written with check-and-set.
path "secret/data/syncgate/_tokens/*" {
  capabilities = ["create", "read", "update"]
}

# Transit keys that sign the client assertions and the audit checkpoints:
# sign with them and read their public keys. The private keys never leave
# Vault.
path "transit/sign/graph-app" {
  capabilities = ["update"]
}
path "transit/sign/google-sa" {
  capabilities = ["update"]
}
path "transit/sign/salesforce-app" {
  capabilities = ["update"]
}
path "transit/sign/syncgate-audit" {
  capabilities = ["update"]
}
path "transit/keys/graph-app" {
  capabilities = ["read"]
}
path "transit/keys/google-sa" {
  capabilities = ["read"]
}
path "transit/keys/salesforce-app" {
  capabilities = ["read"]
}
path "transit/keys/syncgate-audit" {
  capabilities = ["read"]
}

# The intercept CA's ecdsa-p256 key: sign intercepted hosts' leaves (once per
# host every few hours; leaves are cached) and read its public key versions.
# Rotating it (certs rotate-intercept) is the operator's job, not the
# gateway's: no "transit/keys/syncgate-intercept-ca/rotate" here.
path "transit/sign/syncgate-intercept-ca" {
  capabilities = ["update"]
}
path "transit/keys/syncgate-intercept-ca" {
  capabilities = ["read"]
}
