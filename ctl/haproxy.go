package ctl

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"text/template"
)

// HAProxyOptions are haproxy-config's flags.
type HAProxyOptions struct {
	PrimaryPort, ReplicaPort, StatsPort int
	Lag                                 string // /replica?lag=
}

// HAProxyConfig prints an HAProxy configuration for the current members.
func HAProxyConfig(ctx context.Context, env Env, o HAProxyOptions) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	view, err := readCluster(ctx, cfg, env.Err)
	if err != nil {
		return err
	}
	caFile := cfg.Ctl.TLS.CAFile
	out, err := renderHAProxy(haproxyPorts{Primary: o.PrimaryPort, Replica: o.ReplicaPort,
		Stats: o.StatsPort, Lag: o.Lag}, view.Members, caFile)
	if err != nil {
		return err
	}
	_, err = env.Out.Write(out)
	return err
}

type haproxyPorts struct {
	Primary, Replica, Stats int
	Lag                     string
}

// haproxyServer is one server line: PostgreSQL's address, the REST port.
type haproxyServer struct {
	Name, Addr string
	CheckPort  int
}

// haproxyTemplate is Patroni's tutorial haproxy.cfg, adapted; with the
// example members it renders deploy/haproxy/haproxy.cfg byte for byte
// (TestHAProxyConfig_RendersTheShippedFile).
var haproxyTemplate = template.Must(template.New("haproxy").Parse(`# HAProxy in front of a Conclave cluster: Patroni's tutorial haproxy.cfg,
# adapted; ` + "`conclave haproxy-config`" + ` prints it for the current members.
# Port {{.Ports.Primary}} goes to the primary, {{.Ports.Replica}} to the replicas (round robin),
# {{.Ports.Stats}} shows HAProxy's own statistics page.
#
# The health checks ask each node's REST API (restapi.listen):
#   /primary  200 only on the node holding the leader key with a lease it
#             trusts and PostgreSQL running as primary, 503 elsewhere
#   /replica?lag={{.Ports.Lag}}  200 on a running replica at most {{.Ports.Lag}} behind
#             the leader and not tagged noloadbalance
# OPTIONS gets the status code without the JSON body. With
# ` + "`on-marked-down shutdown-sessions`" + `, clients of a node that stops being the
# primary are cut off at once and reconnect to the new one.
#
# REST API over TLS (restapi.certfile): the checks need ` + "`check-ssl verify\n# required ca-file CA`" + ` on default-server (` + "`conclave haproxy-config`" + ` adds it
# from ctl.cacert); health checks are GETs: no client certificate or password.
global
    maxconn 100

defaults
    log global
    mode tcp
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 5s

listen stats
    mode http
    bind *:{{.Ports.Stats}}
    stats enable
    stats uri /

listen primary
    bind *:{{.Ports.Primary}}
    option httpchk
    http-check send meth OPTIONS uri /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions{{.SSL}}
{{- range .Servers}}
    server {{.Name}} {{.Addr}} maxconn 100 check port {{.CheckPort}}
{{- end}}

listen replicas
    bind *:{{.Ports.Replica}}
    balance roundrobin
    option httpchk
    http-check send meth OPTIONS uri /replica?lag={{.Ports.Lag}}
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions{{.SSL}}
{{- range .Servers}}
    server {{.Name}} {{.Addr}} maxconn 100 check port {{.CheckPort}}
{{- end}}
`))

// renderHAProxy renders the configuration for members. A member without a
// PostgreSQL address or a REST URL is an error naming it (HAProxy could
// not check it). caFile is used when the REST API speaks https.
func renderHAProxy(ports haproxyPorts, members []clusterMember, caFile string) ([]byte, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("the cluster lists no members")
	}
	data := struct {
		Ports   haproxyPorts
		Servers []haproxyServer
		SSL     string
	}{Ports: ports}
	for _, m := range members {
		u, err := url.Parse(m.APIURL)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("member %s has no usable api_url %q", m.Name, m.APIURL)
		}
		if m.Host == "" || m.Port == 0 {
			return nil, fmt.Errorf("member %s has not reported its PostgreSQL address yet", m.Name)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		checkPort, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("member %s: api_url %q has no port", m.Name, m.APIURL)
		}
		if u.Scheme == "https" && data.SSL == "" {
			if caFile == "" {
				return nil, fmt.Errorf("member %s serves https: set ctl.cacert (or restapi.cafile) so HAProxy can verify it", m.Name)
			}
			data.SSL = " check-ssl verify required ca-file " + caFile
		}
		data.Servers = append(data.Servers, haproxyServer{Name: m.Name,
			Addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), CheckPort: checkPort})
	}
	var buf bytes.Buffer
	if err := haproxyTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
