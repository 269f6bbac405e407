# Registry: a real OCI registry (Debian's distribution 2.8), skopeo as the independent client,
# htpasswd (bcrypt) for the Basic-auth registry, openssl for the test token issuer's key/cert.
need_apt docker-registry skopeo apache2-utils openssl
