package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/wotchain/wotchain/fabric/netdesc"
)

// reuseHealthTimeout bounds the health check of a running network.
const reuseHealthTimeout = 10 * time.Second

// running returns the description of the network running in opts.Dir when
// it can be reused: every process Up started runs, Up finished (the
// description is saved), the names are the ones asked for, and every node
// is healthy. It returns nil when no process runs there (Up starts a new
// network), and an error when a network runs there that cannot be reused.
func running(ctx context.Context, opts Options, log *slog.Logger) (*netdesc.Network, error) {
	if opts.Dir == "" {
		return nil, errors.New("network directory not set")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := layout{dir: dir}
	procs, err := processes(l)
	if err != nil {
		return nil, err
	}
	var up, down []string
	for _, p := range procs {
		if p.Running {
			up = append(up, p.Name)
		} else {
			down = append(down, p.Name)
		}
	}
	if len(up) == 0 {
		return nil, nil
	}
	if len(down) > 0 {
		return nil, fmt.Errorf("the network in %s is only partly running (%s stopped; logs in %s): take it down first (fabricnet down)", dir, strings.Join(down, ", "), l.logs())
	}
	desc, err := netdesc.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("a network is running in %s but is not up yet (still starting, or its start failed): %w", dir, err)
	}
	channel, chaincode := or(opts.Channel, DefaultChannel), or(opts.Chaincode, DefaultChaincode)
	if desc.Channel != channel || desc.Chaincode != chaincode {
		return nil, fmt.Errorf("the network running in %s has channel %s and chaincode %s, not %s and %s: take it down first (fabricnet down)", dir, desc.Channel, desc.Chaincode, channel, chaincode)
	}
	if err := healthy(ctx, l, desc); err != nil {
		return nil, fmt.Errorf("a network is running in %s but is not healthy: %w; take it down first (fabricnet down)", dir, err)
	}
	log.Info("a healthy network is already running here: reusing it (fabricnet down stops it)", "dir", dir, "channel", desc.Channel, "chaincode", desc.Chaincode)
	return desc, nil
}

// healthy checks the nodes' operations endpoints and the chaincode server.
func healthy(ctx context.Context, l layout, desc *netdesc.Network) error {
	if err := waitHealthy(ctx, "orderer", desc.Orderer.OperationsAddress, l, reuseHealthTimeout); err != nil {
		return err
	}
	for _, o := range desc.Orgs {
		if err := waitHealthy(ctx, o.Peer.ServerName, o.Peer.OperationsAddress, l, reuseHealthTimeout); err != nil {
			return err
		}
	}
	return waitListening(ctx, "chaincode", desc.ChaincodeAddress, l, reuseHealthTimeout)
}
