package config

import (
	"reflect"
	"testing"
)

// fields lists the keys a section's validation names, in order.
func fields(errs fieldErrors) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestNeedsDataDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		view    bool
		ledger  LedgerKind
		storage StorageKind
		dir     string
		want    bool
	}{
		{"appliance always", false, LedgerFabric, StorageS3, "", true},
		{"view, embedded ledger", true, LedgerEmbedded, StorageS3, "", true},
		{"view, filesystem without dir", true, LedgerFabric, StorageFilesystem, "", true},
		{"view, filesystem with dir", true, LedgerFabric, StorageFilesystem, "/objects", false},
		{"view, fabric and s3", true, LedgerFabric, StorageS3, "", false},
	} {
		c := Config{Ledger: Ledger{Kind: tc.ledger}, Storage: Storage{Kind: tc.storage, Filesystem: FilesystemStorage{Dir: tc.dir}}}
		if got := c.needsDataDir(tc.view); got != tc.want {
			t.Errorf("%s: needsDataDir = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSectionValidate: each section's check names exactly the keys it
// refuses, in order.
func TestSectionValidate(t *testing.T) {
	limits := func(r Retention, b Budget) func(*fieldErrors) {
		c := Config{Retention: r, Budget: b}
		return c.validateLimits
	}
	for _, tc := range []struct {
		name  string
		check func(*fieldErrors)
		want  []string
	}{
		{"fabric: network dir and user", FabricLedger{MSPID: "Org1MSP", NetworkDir: "net", User: "User1"}.validate, nil},
		{"fabric: network dir without user", FabricLedger{NetworkDir: "net"}.validate, []string{"ledger.fabric.msp_id", "ledger.fabric.user"}},
		{"fabric: explicit, msp dir", FabricLedger{MSPID: "Org1MSP", PeerEndpoint: "p:7051", TLSCAFile: "ca.pem", MSPDir: "msp"}.validate, nil},
		{"fabric: explicit, cert without key", FabricLedger{MSPID: "Org1MSP", PeerEndpoint: "p:7051", TLSCAFile: "ca.pem", CertFile: "c.pem"}.validate, []string{"ledger.fabric"}},
		{"fabric: explicit, nothing", FabricLedger{}.validate, []string{"ledger.fabric.msp_id", "ledger.fabric.peer_endpoint", "ledger.fabric.tls_ca_file", "ledger.fabric"}},
		{"storage: filesystem", Storage{Kind: StorageFilesystem}.validate, nil},
		{"storage: unknown", Storage{Kind: "tape"}.validate, []string{"storage.kind"}},
		{"storage: s3 complete", Storage{Kind: StorageS3, S3: S3Storage{Endpoint: "h:9000", Bucket: "b", AccessKeyEnv: "A", SecretKeyFile: "s"}}.validate, nil},
		{"storage: s3 with scheme, both keys", Storage{Kind: StorageS3, S3: S3Storage{Endpoint: "http://h:9000", Bucket: "b", AccessKeyEnv: "A", AccessKeyFile: "a", SecretKeyEnv: "S"}}.validate, []string{"storage.s3.endpoint", "storage.s3"}},
		{"storage: s3 empty", Storage{Kind: StorageS3}.validate, []string{"storage.s3.endpoint", "storage.s3.bucket", "storage.s3", "storage.s3"}},
		{"limits: defaults", limits(Retention{Every: Duration(60e9)}, Budget{OnFull: PauseDevices}), nil},
		{"limits: too often, unknown policy", limits(Retention{Every: Duration(1e8)}, Budget{OnFull: "panic"}), []string{"retention.every", "budget.on_full"}},
		{"limits: keep above cap", limits(Retention{Every: Duration(1e9), KeepBytes: 10}, Budget{OnFull: DropOldestUnanchored, MaxBytes: 10}), []string{"retention.keep_bytes"}},
		{"limits: keep without cap", limits(Retention{Every: Duration(1e9), KeepBytes: 10}, Budget{OnFull: PauseDevices}), nil},
	} {
		var errs fieldErrors
		tc.check(&errs)
		if got := fields(errs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.want)
		}
	}
}
