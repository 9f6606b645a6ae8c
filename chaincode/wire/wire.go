// Package wire is the contract's interface as seen from outside the
// chaincode: transaction names, the JSON records transactions return, and
// the tags that carry rules errors through Fabric. It has no Fabric import,
// so the chaincode and its clients share it without sharing dependencies.
package wire

import (
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Transaction names. Arguments are strings; records travel as JSON.
const (
	TxRegisterAppliance = "RegisterAppliance" // (appliance JSON)
	TxRecordCredential  = "RecordCredential"  // (submission JSON) -> Anchored
	// TxRecordCredentials anchors consecutive blocks of one appliance in one
	// transaction (rules.RecordCredentials; at most format.MaxBatchCount and
	// format.MaxBatchBytes), emitting one rules.EventBlocksAnchored event.
	TxRecordCredentials = "RecordCredentials" // (JSON array of submissions) -> []Anchored, in the same order
	TxGetCredential     = "GetCredential"     // (block id) -> format.Credential
	TxCredentialAt      = "CredentialAt"      // (appliance id, height) -> format.Credential
	TxListByAppliance   = "ListByAppliance"   // (appliance id, limit, bookmark) -> format.Page
	TxListByDevice      = "ListByDevice"      // (device, from ns, to ns, limit, bookmark) -> format.Page
	TxGetAppliance      = "GetAppliance"      // (appliance id) -> rules.Appliance
	TxApplianceHistory  = "ApplianceHistory"  // (appliance id) -> []HistoryEntry

	// Key history (manufacturer admins). The rules' "now" is the
	// transaction's timestamp.
	TxRotateApplianceKey = "RotateApplianceKey" // (appliance id, public key base64, from height) -> rules.Appliance
	TxRevokeApplianceKey = "RevokeApplianceKey" // (appliance id, key id, compromised at Unix ns, reason) -> rules.Appliance

	// Licensing. The rules' "now" is the transaction's timestamp.
	TxRecordGrant = "RecordGrant" // (grant JSON) -> Granted
	TxRevokeGrant = "RevokeGrant" // (appliance id, grant id) -> rules.Grant
	TxGetGrant    = "GetGrant"    // (appliance id, grant id) -> rules.Grant
	TxListGrants  = "ListGrants"  // (appliance id, limit, bookmark) -> rules.GrantPage
)

// Anchored is RecordCredential's result (and one entry of
// RecordCredentials'): the credential on the ledger and whether this
// transaction recorded it (false: it was already there).
type Anchored = format.Anchored

// Granted is RecordGrant's result: the grant on the ledger and whether this
// transaction recorded it (false: the identical grant was already there, with
// its original GrantedAt).
type Granted struct {
	Grant    *rules.Grant `json:"grant"`
	Recorded bool         `json:"recorded"`
}

// HistoryEntry is one committed version of an appliance's registration.
type HistoryEntry struct {
	TxID      string           `json:"txId"`
	Timestamp time.Time        `json:"timestamp"`
	Deleted   bool             `json:"deleted,omitempty"`
	Appliance *rules.Appliance `json:"appliance,omitempty"`
}
