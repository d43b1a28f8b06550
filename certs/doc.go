// Package certs loads the TLS material of the REST API and the CLI:
// certificates, private keys (also encrypted ones, with keyfile_password)
// and CA bundles, and builds tls.Config values from them; for `conclave
// tls` it creates a CA and node certificates (create.go, files.go).
//
// It owns those files and nothing else; every error names the file and
// never contains a password. It imports no other package of ours.
package certs
