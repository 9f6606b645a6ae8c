package contract

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// world is a fake peer: committed state, key history, and a transaction
// counter. Each invoke runs on a fresh txStub whose writes are applied only
// when the chaincode succeeds, and whose reads see committed state only,
// as on Fabric.
type world struct {
	state   map[string][]byte
	history map[string][]*queryresult.KeyModification
	txs     int
	clock   time.Time // timestamp of the last transaction; each invoke advances it by a second
	last    *txStub   // the last invoke's stub, to inspect its events
}

func newWorld() *world {
	return &world{
		state: map[string][]byte{}, history: map[string][]*queryresult.KeyModification{},
		clock: time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC),
	}
}

// identity is a client certificate as an MSP would issue it.
type identity struct {
	mspID   string
	creator []byte // serialized msp.SerializedIdentity
}

func newIdentity(t *testing.T, mspID, cn, ou string) identity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}, Organization: []string{mspID}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := proto.Marshal(&msp.SerializedIdentity{
		Mspid:   mspID,
		IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return identity{mspID: mspID, creator: sid}
}

// invoke runs one transaction through the real contractapi dispatcher.
func (w *world) invoke(cc shim.Chaincode, who identity, fn string, args ...string) *peer.Response {
	w.txs++
	w.clock = w.clock.Add(time.Second)
	stub := &txStub{world: w, txID: fmt.Sprintf("tx%d", w.txs), ts: timestamppb.New(w.clock), creator: who.creator, args: append([]string{fn}, args...), writes: map[string][]byte{}}
	resp := cc.Invoke(stub)
	w.last = stub
	if resp.GetStatus() == shim.OK {
		for k, v := range stub.writes {
			w.state[k] = v
			w.history[k] = append(w.history[k], &queryresult.KeyModification{TxId: stub.txID, Value: v, Timestamp: stub.ts})
		}
	}
	return resp
}

// txStub implements the stub calls the contract makes; the embedded
// interface is nil, so any other call panics and shows up in the test.
type txStub struct {
	shim.ChaincodeStubInterface
	world    *world
	txID     string
	ts       *timestamppb.Timestamp // the proposal's timestamp; nil = missing
	creator  []byte
	args     []string
	writes   map[string][]byte
	events   []string
	payloads [][]byte
}

func (s *txStub) GetFunctionAndParameters() (string, []string) { return s.args[0], s.args[1:] }
func (s *txStub) GetArgs() [][]byte {
	out := make([][]byte, len(s.args))
	for i, a := range s.args {
		out[i] = []byte(a)
	}
	return out
}
func (s *txStub) GetStringArgs() []string { return s.args }
func (s *txStub) GetTxID() string         { return s.txID }
func (s *txStub) GetTxTimestamp() (*timestamppb.Timestamp, error) {
	return s.ts, nil
}
func (s *txStub) GetCreator() ([]byte, error)         { return s.creator, nil }
func (s *txStub) GetState(key string) ([]byte, error) { return s.world.state[key], nil }

func (s *txStub) PutState(key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	s.writes[key] = value
	return nil
}

func (s *txStub) SetEvent(name string, payload []byte) error {
	if len(s.events) > 0 {
		return fmt.Errorf("fabric allows one event per transaction")
	}
	s.events = append(s.events, name)
	s.payloads = append(s.payloads, payload)
	return nil
}

func (s *txStub) CreateCompositeKey(objectType string, attrs []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attrs)
}

func (s *txStub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	start, end := prefix, prefix+string(utf8.MaxRune)
	if bookmark != "" {
		start = bookmark
	}
	var ks []string
	for k := range s.world.state {
		if k >= start && k < end && strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	next := ""
	if len(ks) > int(pageSize) {
		next, ks = ks[pageSize], ks[:pageSize]
	}
	it := &kvIter{}
	for _, k := range ks {
		it.kvs = append(it.kvs, &queryresult.KV{Key: k, Value: s.world.state[k]})
	}
	return it, &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(ks)), Bookmark: next}, nil
}

func (s *txStub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	return &historyIter{mods: s.world.history[key]}, nil
}

type kvIter struct{ kvs []*queryresult.KV }

func (it *kvIter) HasNext() bool { return len(it.kvs) > 0 }
func (it *kvIter) Close() error  { return nil }
func (it *kvIter) Next() (*queryresult.KV, error) {
	kv := it.kvs[0]
	it.kvs = it.kvs[1:]
	return kv, nil
}

type historyIter struct {
	mods []*queryresult.KeyModification
}

func (it *historyIter) HasNext() bool { return len(it.mods) > 0 }
func (it *historyIter) Close() error  { return nil }
func (it *historyIter) Next() (*queryresult.KeyModification, error) {
	m := it.mods[0]
	it.mods = it.mods[1:]
	return m, nil
}
