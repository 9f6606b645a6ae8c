package network

import (
	"reflect"
	"testing"
)

// TestOrgSpecs checks that each organisation gets its own ports and names:
// a swapped port would put one organisation's peer on the other's.
func TestOrgSpecs(t *testing.T) {
	ports := Ports{ManufacturerPeer: 1, ManufacturerChaincode: 2, ManufacturerOperations: 3,
		PartnerPeer: 4, PartnerChaincode: 5, PartnerOperations: 6, Orderer: 7, ChaincodeServer: 8}
	want := []orgSpec{
		{name: "manufacturer", mspID: ManufacturerMSP, domain: "manufacturer.wotchain.local", peerPort: 1, chaincodePort: 2, opsPort: 3},
		{name: "partner", mspID: PartnerMSP, domain: "partner.wotchain.local", peerPort: 4, chaincodePort: 5, opsPort: 6},
	}
	if got := orgSpecs(ports); !reflect.DeepEqual(got, want) {
		t.Errorf("orgSpecs = %+v, want %+v", got, want)
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name              string
		opts              Options
		channel, ccName   string
		fixedOrdererAdmin int
	}{
		{"defaults", Options{}, DefaultChannel, DefaultChaincode, 0},
		{"named, fixed port", Options{Channel: "c", Chaincode: "cc", Ports: Ports{OrdererAdmin: 7053}}, "c", "cc", 7053},
	} {
		tc.opts.Dir = t.TempDir()
		u, err := plan(tc.opts, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if u.channel != tc.channel || u.ccName != tc.ccName {
			t.Errorf("%s: channel %q chaincode %q, want %q %q", tc.name, u.channel, u.ccName, tc.channel, tc.ccName)
		}
		if tc.fixedOrdererAdmin != 0 && u.ports.OrdererAdmin != tc.fixedOrdererAdmin {
			t.Errorf("%s: orderer admin port %d, want %d", tc.name, u.ports.OrdererAdmin, tc.fixedOrdererAdmin)
		}
		if u.ports.Orderer == 0 || u.ports.ChaincodeServer == 0 || u.orgs[1].peerPort != u.ports.PartnerPeer {
			t.Errorf("%s: ports not filled in: %+v", tc.name, u.ports)
		}
	}
	if _, err := plan(Options{}, nil); err == nil {
		t.Error("plan without a directory: no error")
	}
}
