// Package contract is the WoTChain chaincode: a thin Fabric binding of
// chaincode/rules. Each transaction turns the stub into a rules.State and
// the client certificate into a rules.Caller, runs the rule, and returns
// JSON. Records travel as JSON strings (not typed contractapi parameters)
// because the rules types are shared with the embedded ledger and carry no
// contractapi schema tags; see chaincode/wire for the formats.
package contract

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

// Name is the contract's name in the chaincode's metadata. It is also the
// default contract, so clients call transactions without a prefix.
const Name = "wotchain"

// AdminOU is the organisational unit cryptogen and Fabric CA put in the
// certificates of an MSP's admins when NodeOUs are enabled.
const AdminOU = "admin"

// applianceKeyType mirrors the object type rules uses for appliance
// records, to read their history. Tests check it against what the rules write.
const applianceKeyType = "appliance"

// Contract is the chaincode's single contract.
type Contract struct {
	contractapi.Contract
	policy rules.Policy
}

// New returns the contract enforcing policy.
func New(policy rules.Policy) *Contract {
	c := &Contract{policy: policy}
	c.Name = Name
	c.Info.Title = "WoTChain block credentials"
	c.Info.Version = "1.0.0"
	return c
}

// NewChaincode wraps the contract in contractapi's chaincode.
func NewChaincode(policy rules.Policy) (*contractapi.ContractChaincode, error) {
	cc, err := contractapi.NewChaincode(New(policy))
	if err != nil {
		return nil, fmt.Errorf("build chaincode: %w", err)
	}
	cc.Info.Title = "wotchain"
	cc.Info.Version = "1.0.0"
	return cc, nil
}

// GetEvaluateTransactions marks the read-only transactions in the metadata.
func (c *Contract) GetEvaluateTransactions() []string {
	return []string{wire.TxGetCredential, wire.TxCredentialAt, wire.TxListByAppliance, wire.TxListByDevice, wire.TxGetAppliance, wire.TxApplianceHistory,
		wire.TxGetGrant, wire.TxListGrants}
}

// RegisterAppliance registers an appliance, or updates the anchoring
// identity of one registered with the same key; another key is a conflict
// (RotateApplianceKey). Manufacturer admins only.
func (c *Contract) RegisterAppliance(ctx contractapi.TransactionContextInterface, applianceJSON string) error {
	caller, err := callerOf(ctx)
	if err != nil {
		return tagged(err)
	}
	var a rules.Appliance
	if err := decodeArg(applianceJSON, &a); err != nil {
		return tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return tagged(err)
	}
	return tagged(rules.RegisterAppliance(stubState{ctx.GetStub()}, c.policy, caller, a, now))
}

// RotateApplianceKey gives an appliance a new signing key (base64 of the
// raw Ed25519 key) for its blocks from fromHeight on, and returns the
// appliance (manufacturer admins only).
func (c *Contract) RotateApplianceKey(ctx contractapi.TransactionContextInterface, applianceID, publicKey string, fromHeight uint64) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	pub, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return "", tagged(fmt.Errorf("%w: appliance %s: new public key is not base64: %v", rules.ErrInvalid, applianceID, err))
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	return encodeResult(rules.RotateApplianceKey(stubState{ctx.GetStub()}, c.policy, caller, applianceID, pub, fromHeight, now))
}

// RevokeApplianceKey records that an appliance key was compromised at
// compromisedAt (Unix ns), and returns the appliance (manufacturer admins
// only). The revocation time is the transaction's timestamp.
func (c *Contract) RevokeApplianceKey(ctx contractapi.TransactionContextInterface, applianceID, keyID string, compromisedAt int64, reason string) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	return encodeResult(rules.RevokeApplianceKey(stubState{ctx.GetStub()}, c.policy, caller, applianceID, keyID, compromisedAt, reason, now))
}

// RecordCredential anchors a block credential and returns wire.Anchored.
// The credential's anchoring time is the transaction's timestamp.
func (c *Contract) RecordCredential(ctx contractapi.TransactionContextInterface, submissionJSON string) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	var sub format.Submission
	if err := decodeArg(submissionJSON, &sub); err != nil {
		return "", tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	cred, recorded, err := rules.RecordCredential(stubState{ctx.GetStub()}, caller, sub, now)
	if err != nil {
		return "", tagged(err)
	}
	return encode(wire.Anchored{Credential: cred, Recorded: recorded})
}

// maxBatchArg bounds the JSON argument of RecordCredentials before it is
// decoded: JSON carries header and signature in base64 (4/3) plus field
// names, so twice the rules' byte limit is ample for any batch they accept.
const maxBatchArg = 2*format.MaxBatchBytes + format.MaxBatchCount*256

// RecordCredentials anchors consecutive blocks of one appliance in one
// transaction and returns []wire.Anchored in submission order. It emits one
// rules.EventBlocksAnchored event; a refused block fails the whole batch.
func (c *Contract) RecordCredentials(ctx contractapi.TransactionContextInterface, submissionsJSON string) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	if len(submissionsJSON) > maxBatchArg {
		return "", tagged(fmt.Errorf("%w: batch argument of %d bytes exceeds the limit of %d", rules.ErrInvalid, len(submissionsJSON), maxBatchArg))
	}
	var subs []format.Submission
	if err := decodeArg(submissionsJSON, &subs); err != nil {
		return "", tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	return encodeResult(rules.RecordCredentials(stubState{ctx.GetStub()}, caller, subs, now))
}

// GetCredential returns the credential of a block.
func (c *Contract) GetCredential(ctx contractapi.TransactionContextInterface, blockID string) (string, error) {
	return encodeResult(rules.GetCredential(stubState{ctx.GetStub()}, blockID))
}

// CredentialAt returns the credential of an appliance's block at a height.
func (c *Contract) CredentialAt(ctx contractapi.TransactionContextInterface, applianceID string, height uint64) (string, error) {
	return encodeResult(rules.CredentialAt(stubState{ctx.GetStub()}, applianceID, height))
}

// ListByAppliance lists an appliance's credentials in height order.
func (c *Contract) ListByAppliance(ctx contractapi.TransactionContextInterface, applianceID string, limit int, bookmark string) (string, error) {
	return encodeResult(rules.ListByAppliance(stubState{ctx.GetStub()}, applianceID, limit, bookmark))
}

// ListByDevice lists credentials of a device's blocks overlapping [from, to] (Unix ns).
func (c *Contract) ListByDevice(ctx contractapi.TransactionContextInterface, device string, from, to int64, limit int, bookmark string) (string, error) {
	return encodeResult(rules.ListByDevice(stubState{ctx.GetStub()}, device, from, to, limit, bookmark))
}

// GetAppliance returns a registered appliance.
func (c *Contract) GetAppliance(ctx contractapi.TransactionContextInterface, applianceID string) (string, error) {
	return encodeResult(rules.GetAppliance(stubState{ctx.GetStub()}, applianceID))
}

// ApplianceHistory returns every committed version of an appliance's
// registration (key rotations, anchoring identity changes), oldest first as
// the peer's history database returns them.
func (c *Contract) ApplianceHistory(ctx contractapi.TransactionContextInterface, applianceID string) (string, error) {
	key, err := rules.CompositeKey(applianceKeyType, applianceID)
	if err != nil {
		return "", tagged(err)
	}
	it, err := ctx.GetStub().GetHistoryForKey(key)
	if err != nil {
		return "", tagged(fmt.Errorf("history of appliance %s: %w", applianceID, err))
	}
	defer it.Close()
	entries := []wire.HistoryEntry{}
	for it.HasNext() {
		m, err := it.Next()
		if err != nil {
			return "", tagged(fmt.Errorf("history of appliance %s: %w", applianceID, err))
		}
		e := wire.HistoryEntry{TxID: m.GetTxId(), Deleted: m.GetIsDelete()}
		if ts := m.GetTimestamp(); ts != nil {
			e.Timestamp = ts.AsTime().UTC()
		}
		if !e.Deleted {
			var a rules.Appliance
			if err := json.Unmarshal(m.GetValue(), &a); err != nil {
				return "", tagged(fmt.Errorf("history of appliance %s, tx %s: corrupt record: %w", applianceID, e.TxID, err))
			}
			e.Appliance = &a
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return "", tagged(fmt.Errorf("%w: %s", rules.ErrUnknownAppliance, applianceID))
	}
	return encode(entries)
}

// RecordGrant records a licensing grant (admins of the appliance's owner
// only) and returns wire.Granted. GrantedAt is the transaction's timestamp.
func (c *Contract) RecordGrant(ctx contractapi.TransactionContextInterface, grantJSON string) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	var g rules.Grant
	if err := decodeArg(grantJSON, &g); err != nil {
		return "", tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	rec, recorded, err := rules.RecordGrant(stubState{ctx.GetStub()}, caller, g, now)
	if err != nil {
		return "", tagged(err)
	}
	return encode(wire.Granted{Grant: rec, Recorded: recorded})
}

// RevokeGrant ends a grant at the transaction's timestamp and returns it.
func (c *Contract) RevokeGrant(ctx contractapi.TransactionContextInterface, applianceID, grantID string) (string, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return "", tagged(err)
	}
	now, err := txTime(ctx.GetStub())
	if err != nil {
		return "", tagged(err)
	}
	return encodeResult(rules.RevokeGrant(stubState{ctx.GetStub()}, caller, applianceID, grantID, now))
}

// GetGrant returns one grant of an appliance.
func (c *Contract) GetGrant(ctx contractapi.TransactionContextInterface, applianceID, grantID string) (string, error) {
	return encodeResult(rules.GetGrant(stubState{ctx.GetStub()}, applianceID, grantID))
}

// ListGrants lists an appliance's grants, revoked ones included.
func (c *Contract) ListGrants(ctx contractapi.TransactionContextInterface, applianceID string, limit int, bookmark string) (string, error) {
	return encodeResult(rules.ListGrants(stubState{ctx.GetStub()}, applianceID, limit, bookmark))
}

// txTime is the transaction's timestamp in Unix ns. Chaincode must not read
// its own clock: every endorser has to compute the same write set, and the
// timestamp in the signed proposal is the one value they all share. It is
// the submitting client's clock; Fabric does not check it.
func txTime(stub shim.ChaincodeStubInterface) (int64, error) {
	ts, err := stub.GetTxTimestamp()
	if err != nil {
		return 0, fmt.Errorf("transaction timestamp: %w", err)
	}
	if err := ts.CheckValid(); err != nil {
		return 0, fmt.Errorf("%w: transaction timestamp: %v", rules.ErrInvalid, err)
	}
	// RevokedAt == 0 means "not revoked", so the time must be after 1970;
	// and it must fit Unix ns (UnixNano is undefined past 2262).
	t := ts.AsTime()
	if !t.After(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, fmt.Errorf("%w: transaction timestamp %s is outside Unix ns range", rules.ErrInvalid, t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// callerOf maps the transaction's client identity to a rules.Caller.
func callerOf(ctx contractapi.TransactionContextInterface) (rules.Caller, error) {
	ci := ctx.GetClientIdentity()
	if ci == nil {
		// contractapi leaves it nil when the creator could not be parsed.
		return rules.Caller{}, fmt.Errorf("%w: transaction creator is not a readable identity", rules.ErrForbidden)
	}
	msp, err := ci.GetMSPID()
	if err != nil {
		return rules.Caller{}, fmt.Errorf("client MSP id: %w", err)
	}
	id, err := ci.GetID()
	if err != nil {
		return rules.Caller{}, fmt.Errorf("%w: client identity: %v", rules.ErrForbidden, err)
	}
	cert, err := ci.GetX509Certificate()
	if err != nil {
		return rules.Caller{}, fmt.Errorf("client certificate: %w", err)
	}
	// The peer has already validated the certificate against the MSP, so
	// the OU it carries is the role the MSP's CA gave it.
	admin := cert != nil && slices.Contains(cert.Subject.OrganizationalUnit, AdminOU)
	return rules.Caller{MSPID: msp, ID: id, Admin: admin}, nil
}

// stubState is rules.State over the chaincode stub.
type stubState struct{ stub shim.ChaincodeStubInterface }

func (s stubState) GetState(key string) ([]byte, error)     { return s.stub.GetState(key) }
func (s stubState) PutState(key string, value []byte) error { return s.stub.PutState(key, value) }
func (s stubState) SetEvent(name string, payload []byte) error {
	return s.stub.SetEvent(name, payload)
}

// ScanComposite pages through a partial composite key. Fabric's bookmark is
// the key of the next entry ("" after the last), as rules.State expects.
// Fabric allows paginated queries only in read-only transactions, which is
// where the rules use them.
func (s stubState) ScanComposite(objectType string, attrs []string, limit int, bookmark string) ([]rules.KV, string, error) {
	it, meta, err := s.stub.GetStateByPartialCompositeKeyWithPagination(objectType, attrs, int32(limit), bookmark)
	if err != nil {
		return nil, "", fmt.Errorf("scan %s %v: %w", objectType, attrs, err)
	}
	defer it.Close()
	var out []rules.KV
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, "", fmt.Errorf("scan %s %v: %w", objectType, attrs, err)
		}
		out = append(out, rules.KV{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	return out, meta.GetBookmark(), nil
}

func decodeArg(arg string, v any) error {
	if err := json.Unmarshal([]byte(arg), v); err != nil {
		return fmt.Errorf("%w: argument is not a JSON %T: %v", rules.ErrInvalid, v, err)
	}
	return nil
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", tagged(fmt.Errorf("encode result: %w", err))
	}
	return string(b), nil
}

func encodeResult[T any](v T, err error) (string, error) {
	if err != nil {
		return "", tagged(err)
	}
	return encode(v)
}

// tagged gives an error the stable code clients decode (see wire.Decode).
func tagged(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(wire.Message(err))
}
