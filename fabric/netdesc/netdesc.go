// Package netdesc is the description of a running Fabric network that the
// launcher (fabric/network) writes as network.json: endpoints, TLS roots,
// organisations and enrolled users. Clients (the daemon, the CLI, tests)
// read it here without importing the launcher and its process management.
package netdesc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// File is the description's file name in the network directory.
const File = "network.json"

// Network describes a running network: what a client needs to connect.
type Network struct {
	Dir       string `json:"dir"`
	Channel   string `json:"channel"`
	Chaincode string `json:"chaincode"`
	PackageID string `json:"packageId"`
	// ChaincodeAddress is where the chaincode server listens (plain gRPC, loopback).
	ChaincodeAddress string `json:"chaincodeAddress"`
	Orderer          Node   `json:"orderer"`
	// OrdererAdminAddress is the channel participation API (osnadmin, no TLS).
	OrdererAdminAddress string `json:"ordererAdminAddress"`
	Orgs                []Org  `json:"orgs"` // manufacturer first
}

// Node is a TLS gRPC endpoint.
type Node struct {
	Address string `json:"address"` // host:port on 127.0.0.1
	// TLSCAFile is the CA that signed the node's TLS certificate.
	TLSCAFile string `json:"tlsCaFile"`
	// ServerName is a name in the node's TLS certificate (its hostname); the
	// certificate also covers 127.0.0.1 and localhost.
	ServerName string `json:"serverName"`
	// OperationsAddress serves /healthz (plain HTTP, loopback).
	OperationsAddress string `json:"operationsAddress"`
}

// Org is one organisation with its peer and users.
type Org struct {
	Name   string `json:"name"` // e.g. "manufacturer"
	MSPID  string `json:"mspId"`
	Domain string `json:"domain"`
	Peer   Node   `json:"peer"`
	MSPDir string `json:"mspDir"` // the organisation's verifying MSP
	Users  []User `json:"users"`
}

// User is an enrolled identity: an admin (OU=admin) or a client (OU=client).
type User struct {
	Name     string `json:"name"` // "Admin", "User1", "User2"
	Admin    bool   `json:"admin"`
	MSPDir   string `json:"mspDir"`
	CertFile string `json:"certFile"` // PEM certificate (signcerts)
	KeyFile  string `json:"keyFile"`  // PEM PKCS#8 private key (keystore)
}

// Org returns the organisation with the given MSP id.
func (n *Network) Org(mspID string) (*Org, error) {
	for i := range n.Orgs {
		if n.Orgs[i].MSPID == mspID {
			return &n.Orgs[i], nil
		}
	}
	return nil, fmt.Errorf("network %s has no organisation %s", n.Dir, mspID)
}

// User returns the organisation's user with the given name ("Admin", "User1", ...).
func (o *Org) User(name string) (*User, error) {
	for i := range o.Users {
		if o.Users[i].Name == name {
			return &o.Users[i], nil
		}
	}
	return nil, fmt.Errorf("organisation %s has no user %s", o.MSPID, name)
}

// Load reads the description Up saved in dir.
func Load(dir string) (*Network, error) {
	data, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		return nil, fmt.Errorf("no network description in %s (is the network up?): %w", dir, err)
	}
	var n Network
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("network description %s: %w", filepath.Join(dir, File), err)
	}
	return &n, nil
}

// Save writes the description to n.Dir, where Load finds it.
func (n *Network) Save() error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.Dir, File), append(data, '\n'), 0o644)
}
