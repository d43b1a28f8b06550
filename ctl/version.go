package ctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/conclave-ha/conclave/config"
)

// Version is patronictl version: this binary's version and, given
// CLUSTER_NAME or member names, each member's.
func Version(ctx context.Context, env Env, version string) error {
	fmt.Fprintf(env.Out, "conclave version %s\n", version)
	if len(env.Args) == 0 {
		return nil
	}
	cfg, names, err := env.verbConfig(-1)
	if err != nil {
		return err
	}
	view, err := readCluster(ctx, cfg, env.Err)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Out)
	return printMemberVersions(ctx, env.Out, cfg, view, names)
}

// printMemberVersions asks every member (or those named) for its version
// at its api_url, as patronictl does: "node1: Conclave 0.1.0 PostgreSQL 15.4".
func printMemberVersions(ctx context.Context, w io.Writer, cfg *config.Config, view clusterView, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := 0
	for _, e := range orderMembers(view.Members, false) {
		m := e.member
		if m.APIURL == "" || (len(want) > 0 && !want[m.Name]) {
			continue
		}
		found++
		a := newAPIClient(cfg)
		a.base = apiBase(m.APIURL)
		var st struct {
			ServerVersion int `json:"server_version"`
			Patroni       struct {
				Version string `json:"version"`
			} `json:"patroni"`
		}
		if err := a.send(ctx, http.MethodGet, "/patroni", nil, &st); err != nil {
			fmt.Fprintf(w, "%s: failed to get version: %v\n", m.Name, err)
			continue
		}
		pg := ""
		if st.ServerVersion > 0 {
			pg = " PostgreSQL " + formatPGVersion(st.ServerVersion)
		}
		fmt.Fprintf(w, "%s: Conclave %s%s\n", m.Name, st.Patroni.Version, pg)
	}
	if len(want) > 0 && found < len(want) {
		var missing []string
		for _, n := range names {
			if !memberNamed(view, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no member %s in cluster %s", strings.Join(missing, ", "), view.Scope)
		}
	}
	return nil
}

func memberNamed(view clusterView, name string) bool {
	for _, m := range view.Members {
		if m.Name == name {
			return true
		}
	}
	return false
}

// formatPGVersion is patronictl's format_pg_version: 150004 → 15.4,
// 90624 → 9.6.24.
func formatPGVersion(v int) string {
	if v < 100000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d", v/10000, v%100)
}
