// Package network runs a local Hyperledger Fabric network for development
// and tests, natively (no Docker): one etcdraft orderer and one peer for
// each of two organisations (the manufacturer and a partner), TLS on, all
// bound to 127.0.0.1, a channel created through the orderer's channel
// participation API, and the WoTChain chaincode running as a service and
// committed with an endorsement policy that needs both organisations.
//
// Everything the network generates (crypto material, configuration, ledgers,
// logs, pid files) lives under one directory. Up returns a description of
// the endpoints and identities (fabric/netdesc), also saved as network.json
// there, so clients can connect and later commands (Status, Down) can find
// the processes.
package network

// Organisation MSP ids and the defaults of the channel and chaincode names.
const (
	ManufacturerMSP = "ManufacturerMSP"
	PartnerMSP      = "PartnerMSP"
	OrdererMSP      = "OrdererMSP"

	DefaultChannel   = "wotchain"
	DefaultChaincode = "wotchain"

	// EndorsementPolicy requires a peer of each organisation to endorse.
	EndorsementPolicy = "AND('ManufacturerMSP.peer','PartnerMSP.peer')"
)
