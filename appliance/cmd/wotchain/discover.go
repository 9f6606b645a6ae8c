package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/opcua"
)

// cmdBrowse lists an OPC UA server's address space so an integrator can
// write the points of a device. With --config and --device it connects with
// that device's security settings and the appliance's trust list.
func cmdBrowse(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return fmt.Errorf("%w: usage: wotchain browse opcua://host:port [--config FILE --device ID] [--root NODE] [--depth N] [--uris]", errUsage)
	}
	endpoint := args[0]
	fs := newFlags("browse")
	path := fs.String("config", "", "appliance configuration (for the device's security settings and trust list)")
	device := fs.String("device", "", "device id in the configuration")
	root := fs.String("root", "", "node to list from (default the Objects folder, i=85)")
	depth := fs.Int("depth", 3, "levels below the root")
	uris := fs.Bool("uris", false, "print node ids with namespace URIs (nsu=...), which survive server restarts")
	timeout := fs.Duration("timeout", 10*time.Second, "per request")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	opts := opcua.BrowseOptions{Root: *root, MaxDepth: *depth, NamespaceURIs: *uris, Timeout: *timeout,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if *path != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		opts.StateDir = daemon.ProtocolStateDir(cfg, opcua.Name)
		for _, d := range cfg.Devices {
			if c, ok := d.Settings.(*opcua.Config); ok && d.ID == *device {
				opts.Connection = *protocols.Resolved(c, cfg.Resolve).(*opcua.Config)
			}
		}
		if *device != "" && opts.Connection.Endpoint == "" {
			return fmt.Errorf("%w: no OPC UA device %q in %s", errUsage, *device, *path)
		}
	}
	return opcua.Browse(ctx, endpoint, opts, stdout)
}

// cmdScan probes a Modbus port for answering unit ids and registers.
func cmdScan(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[0] != string(modbus.Name) {
		return fmt.Errorf("%w: usage: wotchain scan modbus URL [--units 1-10,17] [--tables holding,input,coil,discrete] [--start N] [--count N] [--chunk N] [--timeout D] [--pause D]", errUsage)
	}
	url := args[1]
	fs := newFlags("scan")
	units := fs.String("units", "", "unit ids, e.g. 1-10,17 (default 1-10 for tcp://, 1-247 for serial)")
	tables := fs.String("tables", "", "comma-separated: holding,input,coil,discrete (default all)")
	startAddr := fs.Uint("start", 0, "first address of each table")
	count := fs.Int("count", 100, "addresses per table")
	chunk := fs.Int("chunk", 16, "addresses per request (1..125)")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "per request")
	pause := fs.Duration("pause", 0, "between requests, for slow serial devices")
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	opts := modbus.ScanOptions{Start: uint16(*startAddr), Count: *count, Chunk: *chunk, Timeout: *timeout, Pause: *pause}
	if *startAddr > 65535 {
		return fmt.Errorf("%w: --start must be at most 65535", errUsage)
	}
	if *units != "" {
		ids, err := modbus.ParseUnitIDs(*units)
		if err != nil {
			return fmt.Errorf("%w: --units: %v", errUsage, err)
		}
		opts.Units = ids
	}
	if *tables != "" {
		opts.Tables = strings.Split(*tables, ",")
	}
	return modbus.Scan(ctx, url, opts, stdout)
}
