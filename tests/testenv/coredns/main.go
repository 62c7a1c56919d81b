// Command coredns is CoreDNS (github.com/coredns/coredns, version pinned by go.mod) with
// only the plugins a test cluster's Corefile uses, instead of the ~60 its own main package
// links: the Corefile kubeadm installs (errors, health, ready, kubernetes, prometheus,
// forward, cache, loop, reload, loadbalance) plus log, hosts and bind (to listen on one
// loopback address).
//
// The order in which plugins handle a query is not the Corefile's but that of
// dnsserver.Directives (generated from CoreDNS's plugin.cfg). main keeps that order and
// drops the directives whose plugin is not linked (the ones imported below, and those
// they import: debug, dnstap, metadata, transfer), so that a Corefile naming one fails to
// parse ("unknown directive") rather than at its setup ("no action found").
package main

import (
	"fmt"
	"os"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // directive "prometheus"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	var directives []string
	for _, d := range dnsserver.Directives {
		if _, err := caddy.DirectiveAction("dns", d); err == nil {
			directives = append(directives, d)
		}
	}
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(2)
	}
	coremain.Run()
}
