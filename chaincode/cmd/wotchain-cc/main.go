// Command wotchain-cc serves the WoTChain contract as an external chaincode
// service (Fabric's "chaincode as a service"): the peers dial it at the
// address in the package's connection.json.
//
// Environment:
//
//	CHAINCODE_ID              package id the peers installed (required)
//	CHAINCODE_SERVER_ADDRESS  listen address, e.g. 127.0.0.1:9999 (required)
//	WOTCHAIN_MANUFACTURER_MSP MSP whose admins register appliances (default ManufacturerMSP)
//	CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY, CHAINCODE_CLIENT_CA_CERT
//	                          PEM files; TLS is on when cert and key are set
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/wotchain/wotchain/chaincode/contract"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// DefaultManufacturerMSP is the manufacturer organisation's MSP id when
// WOTCHAIN_MANUFACTURER_MSP is not set.
const DefaultManufacturerMSP = "ManufacturerMSP"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("chaincode server stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ccid, addr := os.Getenv("CHAINCODE_ID"), os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if ccid == "" || addr == "" {
		return fmt.Errorf("CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS must be set")
	}
	policy := rules.Policy{ManufacturerMSP: envOr("WOTCHAIN_MANUFACTURER_MSP", DefaultManufacturerMSP)}
	cc, err := contract.NewChaincode(policy)
	if err != nil {
		return err
	}
	tlsProps, err := tlsFromEnv()
	if err != nil {
		return err
	}
	srv := &shim.ChaincodeServer{CCID: ccid, Address: addr, CC: cc, TLSProps: tlsProps}
	log.Info("serving chaincode", "address", addr, "ccid", ccid, "manufacturer_msp", policy.ManufacturerMSP, "tls", !tlsProps.Disabled)
	// Start blocks until the listener fails; the process is stopped by signal.
	return srv.Start()
}

func tlsFromEnv() (shim.TLSProperties, error) {
	certFile, keyFile := os.Getenv("CHAINCODE_TLS_CERT"), os.Getenv("CHAINCODE_TLS_KEY")
	if certFile == "" && keyFile == "" {
		return shim.TLSProperties{Disabled: true}, nil
	}
	var p shim.TLSProperties
	var err error
	if p.Cert, err = os.ReadFile(certFile); err != nil {
		return p, fmt.Errorf("chaincode TLS certificate: %w", err)
	}
	if p.Key, err = os.ReadFile(keyFile); err != nil {
		return p, fmt.Errorf("chaincode TLS key: %w", err)
	}
	if ca := os.Getenv("CHAINCODE_CLIENT_CA_CERT"); ca != "" {
		if p.ClientCACerts, err = os.ReadFile(ca); err != nil {
			return p, fmt.Errorf("chaincode client CA: %w", err)
		}
	}
	return p, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
