package fabricledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

const testApp = "app"

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))

// testCredential builds a genuine credential of block height of testApp,
// its fields derived from a signed header as the contract derives them,
// without *testing.T so fuzz seeds can use it. Block h holds seqs
// 100h+1..100h+100, times 1000h..1000h+999 and, for odd h, a second device.
func testCredential(height uint64) (*format.Credential, format.Submission) {
	var prev []byte
	if height > 0 {
		_, s := testCredential(height - 1)
		prev, _ = hex.DecodeString(format.BlockID(s.Header))
	}
	devices := []string{"press-1"}
	if height%2 == 1 {
		devices = []string{"boiler-1", "press-1"} // sorted, as headers require
	}
	h := &format.Header{Version: format.HeaderV1, ApplianceID: testApp, Height: height, PrevHash: prev,
		FirstSeq: 100*height + 1, LastSeq: 100*height + 100, FirstTime: int64(height) * 1000, LastTime: int64(height)*1000 + 999,
		Devices: devices, Count: 100, MerkleRoot: bytes.Repeat([]byte{byte(height + 1)}, 32), SealedAt: int64(height)*1000 + 1000}
	hb, err := h.Encode()
	if err != nil {
		panic(err)
	}
	obj := fmt.Sprintf("%064x", height+7)
	sub := format.Submission{Header: hb, HeaderSig: format.SignHeader(testKey, hb), ObjectHash: obj, Location: "fs:" + obj}
	c := &format.Credential{
		BlockID: format.BlockID(hb), ApplianceID: testApp, Height: height, FirstSeq: h.FirstSeq, LastSeq: h.LastSeq,
		FirstTime: h.FirstTime, LastTime: h.LastTime, Devices: devices, Count: h.Count, MerkleRoot: hex.EncodeToString(h.MerkleRoot),
		ObjectHash: sub.ObjectHash, Location: sub.Location, Header: hb, HeaderSig: sub.HeaderSig, SignerMSP: "ManufacturerMSP", SignerID: "anchor",
	}
	if prev != nil {
		c.PrevBlockID = hex.EncodeToString(prev)
	}
	return c, sub
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestGenuineCredentialsAccepted(t *testing.T) {
	c0, sub0 := testCredential(0)
	c1, sub1 := testCredential(1)
	if c, err := credentialResult(wire.TxGetCredential, mustJSON(c1), ofBlock(c1.BlockID)); err != nil || c.Height != 1 {
		t.Fatalf("GetCredential: %+v, %v", c, err)
	}
	if _, err := credentialResult(wire.TxCredentialAt, mustJSON(c1), atHeight(testApp, 1)); err != nil {
		t.Fatalf("CredentialAt: %v", err)
	}
	if c, rec, err := anchoredResult(mustJSON(format.Anchored{Credential: c0, Recorded: true}), sub0); err != nil || !rec || c.BlockID != c0.BlockID {
		t.Fatalf("RecordCredential: %+v %v %v", c, rec, err)
	}
	if out, err := batchResult(mustJSON([]format.Anchored{{Credential: c0}, {Credential: c1, Recorded: true}}), []format.Submission{sub0, sub1}); err != nil || len(out) != 2 || !out[1].Recorded {
		t.Fatalf("RecordCredentials: %+v, %v", out, err)
	}
	page := mustJSON(format.Page{Credentials: []*format.Credential{c0, c1}, Bookmark: "next"})
	if p, err := pageResult(wire.TxListByAppliance, page, ofAppliance(testApp), true); err != nil || len(p.Credentials) != 2 || p.Bookmark != "next" {
		t.Fatalf("ListByAppliance: %+v, %v", p, err)
	}
	if _, err := pageResult(wire.TxListByDevice, page, ofDevice("press-1", 500, 1500), false); err != nil {
		t.Fatalf("ListByDevice: %v", err)
	}
}

// Each answer a peer could give that does not fit the question, or whose
// summary is not its header's, is refused with an error naming the
// transaction.
func TestChainResultsThatDoNotFitRefused(t *testing.T) {
	c0, sub0 := testCredential(0)
	c1, sub1 := testCredential(1)
	altered := func(f func(c *format.Credential)) *format.Credential {
		c, _ := testCredential(1)
		f(c)
		return c
	}
	cases := []struct {
		name string
		run  func() error
	}{
		{"another block's credential", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(c0), ofBlock(c1.BlockID))
			return err
		}},
		{"null", func() error {
			_, err := credentialResult(wire.TxGetCredential, []byte("null"), ofBlock(c1.BlockID))
			return err
		}},
		{"not JSON", func() error {
			_, err := credentialResult(wire.TxGetCredential, []byte("{"), ofBlock(c1.BlockID))
			return err
		}},
		{"count changed", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(altered(func(c *format.Credential) { c.Count = 99 })), ofBlock(c1.BlockID))
			return err
		}},
		{"lastSeq changed", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(altered(func(c *format.Credential) { c.LastSeq++ })), ofBlock(c1.BlockID))
			return err
		}},
		{"device added", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(altered(func(c *format.Credential) { c.Devices = append(c.Devices, "x") })), ofBlock(c1.BlockID))
			return err
		}},
		{"merkle root changed", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(altered(func(c *format.Credential) { c.MerkleRoot = strings.Repeat("0", 64) })), ofBlock(c1.BlockID))
			return err
		}},
		{"block id not the header's", func() error {
			c := altered(func(c *format.Credential) { c.BlockID = c0.BlockID })
			_, err := credentialResult(wire.TxGetCredential, mustJSON(c), ofBlock(c0.BlockID))
			return err
		}},
		{"header cut short", func() error {
			_, err := credentialResult(wire.TxGetCredential, mustJSON(altered(func(c *format.Credential) { c.Header = c.Header[:len(c.Header)-1] })), ofBlock(c1.BlockID))
			return err
		}},
		{"wrong height", func() error {
			_, err := credentialResult(wire.TxCredentialAt, mustJSON(c0), atHeight(testApp, 1))
			return err
		}},
		{"wrong appliance", func() error {
			_, err := credentialResult(wire.TxCredentialAt, mustJSON(c1), atHeight("other", 1))
			return err
		}},
		{"anchored: another block", func() error {
			_, _, err := anchoredResult(mustJSON(format.Anchored{Credential: c0}), sub1)
			return err
		}},
		{"anchored: another object", func() error {
			sub := sub0
			sub.ObjectHash = strings.Repeat("f", 64)
			_, _, err := anchoredResult(mustJSON(format.Anchored{Credential: c0}), sub)
			return err
		}},
		{"anchored: no credential", func() error {
			_, _, err := anchoredResult([]byte(`{"recorded":true}`), sub0)
			return err
		}},
		{"batch: swapped", func() error {
			_, err := batchResult(mustJSON([]format.Anchored{{Credential: c1}, {Credential: c0}}), []format.Submission{sub0, sub1})
			return err
		}},
		{"batch: short", func() error {
			_, err := batchResult(mustJSON([]format.Anchored{{Credential: c0}}), []format.Submission{sub0, sub1})
			return err
		}},
		{"batch: null credential", func() error {
			_, err := batchResult(mustJSON([]format.Anchored{{Credential: c0}, {}}), []format.Submission{sub0, sub1})
			return err
		}},
		{"batch: altered summary", func() error {
			_, err := batchResult(mustJSON([]format.Anchored{{Credential: c0}, {Credential: altered(func(c *format.Credential) { c.FirstTime = 0 })}}), []format.Submission{sub0, sub1})
			return err
		}},
		{"page: another appliance's", func() error {
			_, err := pageResult(wire.TxListByAppliance, mustJSON(format.Page{Credentials: []*format.Credential{c0}}), ofAppliance("other"), true)
			return err
		}},
		{"page: heights going back", func() error {
			_, err := pageResult(wire.TxListByAppliance, mustJSON(format.Page{Credentials: []*format.Credential{c1, c0}}), ofAppliance(testApp), true)
			return err
		}},
		{"page: a height twice", func() error {
			_, err := pageResult(wire.TxListByAppliance, mustJSON(format.Page{Credentials: []*format.Credential{c0, c0}}), ofAppliance(testApp), true)
			return err
		}},
		{"page: null entry", func() error {
			_, err := pageResult(wire.TxListByAppliance, []byte(`{"credentials":[null]}`), ofAppliance(testApp), true)
			return err
		}},
		{"device page: device not in the block", func() error {
			_, err := pageResult(wire.TxListByDevice, mustJSON(format.Page{Credentials: []*format.Credential{c0}}), ofDevice("boiler-1", 0, 5000), false)
			return err
		}},
		{"device page: outside the time range", func() error {
			_, err := pageResult(wire.TxListByDevice, mustJSON(format.Page{Credentials: []*format.Credential{c1}}), ofDevice("press-1", 0, 999), false)
			return err
		}},
		{"appliance: another", func() error {
			_, err := applianceResult(mustJSON(rules.Appliance{ID: "other"}), testApp)
			return err
		}},
		{"appliance: null", func() error {
			_, err := applianceResult([]byte("null"), testApp)
			return err
		}},
		{"history: another appliance's registration", func() error {
			_, err := historyResult(mustJSON([]wire.HistoryEntry{{TxID: "t1", Appliance: &rules.Appliance{ID: "other"}}}), testApp)
			return err
		}},
		{"grant: another id", func() error {
			return grantResult(wire.TxGetGrant, &rules.Grant{ID: "g-2", ApplianceID: testApp}, testApp, "g-1")
		}},
		{"grant: another appliance", func() error {
			return grantResult(wire.TxGetGrant, &rules.Grant{ID: "g-1", ApplianceID: "other"}, testApp, "g-1")
		}},
		{"grant: null", func() error { return grantResult(wire.TxGetGrant, nil, testApp, "g-1") }},
		{"grant page: another appliance's", func() error {
			_, err := grantPageResult(mustJSON(rules.GrantPage{Grants: []*rules.Grant{{ID: "g-1", ApplianceID: "other"}}}), testApp)
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.run()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), "Credential") && !strings.Contains(err.Error(), "Grant") &&
			!strings.Contains(err.Error(), "Appliance") && !strings.Contains(err.Error(), "ListBy") {
			t.Errorf("%s: error %q does not name the transaction", tc.name, err)
		}
	}
}

// FuzzChainResult answers every read transaction with arbitrary bytes. No
// decoder may panic, and whatever is accepted must be a credential whose
// every summary field is re-derived here from its own header (independently
// of format.Credential.CheckSummary) and that answers the question asked.
func FuzzChainResult(f *testing.F) {
	c0, _ := testCredential(0)
	c1, _ := testCredential(1)
	f.Add(mustJSON(c1))
	f.Add(mustJSON(c0))
	f.Add(mustJSON(format.Page{Credentials: []*format.Credential{c0, c1}, Bookmark: "b"}))
	f.Add(mustJSON([]*format.Credential{c0, c1}))
	f.Add([]byte(`{"credentials":[null]}`))
	f.Fuzz(func(t *testing.T, res []byte) {
		check := func(c *format.Credential) {
			t.Helper()
			h, err := format.ParseHeader(c.Header)
			if err != nil {
				t.Fatalf("accepted a credential whose header does not parse: %v", err)
			}
			prev := ""
			if len(h.PrevHash) > 0 {
				prev = hex.EncodeToString(h.PrevHash)
			}
			if c.BlockID != format.BlockID(c.Header) || c.ApplianceID != h.ApplianceID || c.Height != h.Height ||
				c.FirstSeq != h.FirstSeq || c.LastSeq != h.LastSeq || c.FirstTime != h.FirstTime || c.LastTime != h.LastTime ||
				c.Count != h.Count || c.MerkleRoot != hex.EncodeToString(h.MerkleRoot) || c.PrevBlockID != prev ||
				strings.Join(c.Devices, "\x00") != strings.Join(h.Devices, "\x00") {
				t.Fatalf("accepted a credential whose summary is not its header's: %+v", c)
			}
		}
		if c, err := credentialResult(wire.TxGetCredential, res, ofBlock(c1.BlockID)); err == nil {
			check(c)
			if c.BlockID != c1.BlockID {
				t.Fatalf("asked for block %s, accepted %s", c1.BlockID, c.BlockID)
			}
		}
		if c, err := credentialResult(wire.TxCredentialAt, res, atHeight(testApp, 1)); err == nil {
			check(c)
			if c.ApplianceID != testApp || c.Height != 1 {
				t.Fatalf("asked for %s/1, accepted %s/%d", testApp, c.ApplianceID, c.Height)
			}
		}
		if p, err := pageResult(wire.TxListByAppliance, res, ofAppliance(testApp), true); err == nil {
			for i, c := range p.Credentials {
				check(c)
				if c.ApplianceID != testApp || (i > 0 && c.Height <= p.Credentials[i-1].Height) {
					t.Fatalf("listing of %s accepted entry %d: %s/%d", testApp, i, c.ApplianceID, c.Height)
				}
			}
		}
		if p, err := pageResult(wire.TxListByDevice, res, ofDevice("boiler-1", 0, 1500), false); err == nil {
			for _, c := range p.Credentials {
				check(c)
				if !strings.Contains("\x00"+strings.Join(c.Devices, "\x00")+"\x00", "\x00boiler-1\x00") || c.LastTime < 0 || c.FirstTime > 1500 {
					t.Fatalf("listing of boiler-1 in 0..1500 accepted %v %d..%d", c.Devices, c.FirstTime, c.LastTime)
				}
			}
		}
		ev := eventOf(res)
		if creds, err := anchoredCredentials(ev); err == nil {
			for _, c := range creds {
				check(c)
			}
		}
	})
}

// eventOf delivers res as the payload of a chaincode event: a batch event
// when it looks like a list.
func eventOf(res []byte) *client.ChaincodeEvent {
	name := rules.EventBlockAnchored
	if t := bytes.TrimSpace(res); len(t) > 0 && t[0] == '[' {
		name = rules.EventBlocksAnchored
	}
	return &client.ChaincodeEvent{BlockNumber: 9, TransactionID: "tx-fuzz", EventName: name, Payload: res}
}
