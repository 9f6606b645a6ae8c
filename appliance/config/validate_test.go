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

func TestFabricLedgerValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    FabricLedger
		want []string
	}{
		{"network dir and user", FabricLedger{MSPID: "Org1MSP", NetworkDir: "net", User: "User1"}, nil},
		{"network dir without user", FabricLedger{NetworkDir: "net"}, []string{"ledger.fabric.msp_id", "ledger.fabric.user"}},
		{"explicit, msp dir", FabricLedger{MSPID: "Org1MSP", PeerEndpoint: "p:7051", TLSCAFile: "ca.pem", MSPDir: "msp"}, nil},
		{"explicit, cert without key", FabricLedger{MSPID: "Org1MSP", PeerEndpoint: "p:7051", TLSCAFile: "ca.pem", CertFile: "c.pem"}, []string{"ledger.fabric"}},
		{"explicit, nothing", FabricLedger{}, []string{"ledger.fabric.msp_id", "ledger.fabric.peer_endpoint", "ledger.fabric.tls_ca_file", "ledger.fabric"}},
	} {
		var errs fieldErrors
		tc.f.validate(&errs)
		if got := fields(errs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStorageValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Storage
		want []string
	}{
		{"filesystem", Storage{Kind: StorageFilesystem}, nil},
		{"unknown", Storage{Kind: "tape"}, []string{"storage.kind"}},
		{"s3 complete", Storage{Kind: StorageS3, S3: S3Storage{Endpoint: "h:9000", Bucket: "b", AccessKeyEnv: "A", SecretKeyFile: "s"}}, nil},
		{"s3 with scheme, both keys", Storage{Kind: StorageS3, S3: S3Storage{Endpoint: "http://h:9000", Bucket: "b", AccessKeyEnv: "A", AccessKeyFile: "a", SecretKeyEnv: "S"}}, []string{"storage.s3.endpoint", "storage.s3"}},
		{"s3 empty", Storage{Kind: StorageS3}, []string{"storage.s3.endpoint", "storage.s3.bucket", "storage.s3", "storage.s3"}},
	} {
		var errs fieldErrors
		tc.s.validate(&errs)
		if got := fields(errs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Retention
		b    Budget
		want []string
	}{
		{"defaults", Retention{Every: Duration(60e9)}, Budget{OnFull: PauseDevices}, nil},
		{"too often, unknown policy", Retention{Every: Duration(1e8)}, Budget{OnFull: "panic"}, []string{"retention.every", "budget.on_full"}},
		{"keep above cap", Retention{Every: Duration(1e9), KeepBytes: 10}, Budget{OnFull: DropOldestUnanchored, MaxBytes: 10}, []string{"retention.keep_bytes"}},
		{"keep without cap", Retention{Every: Duration(1e9), KeepBytes: 10}, Budget{OnFull: PauseDevices}, nil},
	} {
		var errs fieldErrors
		c := Config{Retention: tc.r, Budget: tc.b}
		c.validateLimits(&errs)
		if got := fields(errs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.want)
		}
	}
}
