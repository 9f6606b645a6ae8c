package fabricledger

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"

	"github.com/wotchain/wotchain/chaincode/rules"
	"google.golang.org/protobuf/proto"
)

type creatorStub struct{ creator []byte }

func (s creatorStub) GetCreator() ([]byte, error) { return s.creator, nil }

// TestCallerOfMatchesChaincode checks that the id computed client-side is
// the one the chaincode's cid library derives, including names that need
// escaping, so an appliance registered with it can anchor.
func TestCallerOfMatchesChaincode(t *testing.T) {
	for _, subject := range []pkix.Name{
		{CommonName: "User1@manufacturer.wotchain.local", OrganizationalUnit: []string{"client"}, Country: []string{"US"}, Province: []string{"North Carolina"}, Locality: []string{"San Francisco"}},
		{CommonName: " lead,ing+odd\"chars; ", OrganizationalUnit: []string{"admin", "dept"}, Organization: []string{"#Org"}},
		{CommonName: "x", SerialNumber: "42", ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{1, 2, 840, 113549, 1, 9, 1}, Value: "a@b.c"}}},
	} {
		cert, der := selfSigned(t, subject)
		sid, err := proto.Marshal(&msp.SerializedIdentity{Mspid: "ManufacturerMSP", IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
		if err != nil {
			t.Fatal(err)
		}
		want, err := cid.GetID(creatorStub{sid})
		if err != nil {
			t.Fatal(err)
		}
		got := CallerOf("ManufacturerMSP", cert)
		if got.ID != want {
			t.Errorf("subject %v: id %s, chaincode sees %s", subject, got.ID, want)
		}
		isAdmin := false
		for _, ou := range subject.OrganizationalUnit {
			isAdmin = isAdmin || ou == AdminOU
		}
		if got.Admin != isAdmin || got.MSPID != "ManufacturerMSP" {
			t.Errorf("subject %v: caller %+v", subject, got)
		}
	}
}

func selfSigned(t *testing.T, subject pkix.Name) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, der
}

// A caller is shown by its MSP and its certificate's common name, not by
// the base64 id the contract compares (which CallerOf keeps in ID).
func TestCallerShownBySubject(t *testing.T) {
	for _, subject := range []pkix.Name{
		{CommonName: "User1@manufacturer.wotchain.local", OrganizationalUnit: []string{"client"}, Country: []string{"US"}, Province: []string{"North Carolina"}, Locality: []string{"San Francisco"}},
		{CommonName: " lead,ing+odd\"chars; ", OrganizationalUnit: []string{"admin", "dept"}, Organization: []string{"#Org"}},
	} {
		cert, _ := selfSigned(t, subject)
		c := CallerOf("ManufacturerMSP", cert)
		if got, want := c.String(), "ManufacturerMSP/"+subject.CommonName; got != want {
			t.Errorf("caller shown as %q, want %q", got, want)
		}
		if got := rules.IdentityName(c.MSPID, c.ID); got != c.String() {
			t.Errorf("IdentityName %q, String %q", got, c.String())
		}
	}
	cert, _ := selfSigned(t, pkix.Name{Organization: []string{"Org"}, Country: []string{"DE"}})
	if got := CallerOf("PartnerMSP", cert).String(); got != "PartnerMSP/O=Org,C=DE" {
		t.Errorf("caller without a common name shown as %q", got)
	}
}
