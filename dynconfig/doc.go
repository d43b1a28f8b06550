// Package dynconfig owns the dynamic configuration (Patroni's bootstrap.dcs
// keys): the typed view (DynamicConfig), its defaults, and its parsing and
// validation, done once per stored change (Cache).
//
// Two checks, on purpose: ValidateDynamicConfig is the strict one, run before
// anything is proposed (PATCH/PUT /config, bootstrap.dcs in the file, the
// CLI); AcceptDynamicConfig is what fsm's Apply runs, and must never become
// stricter than an older release's (DESIGN.md, rolling upgrades).
//
// It is a leaf: it imports no other package of ours, reads no clock, file
// or network.
package dynconfig
