package fabricledger

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// AdminOU marks an admin certificate (Fabric NodeOUs), as the contract checks.
const AdminOU = "admin"

// CallerOf returns the identity the contract sees for a client certificate:
// its MSP id, the id Fabric's client identity library derives from the
// certificate (base64 of "x509::<subject DN>::<issuer DN>"), and whether it
// carries the admin role. Register an appliance's AnchorMSP/AnchorID from it.
func CallerOf(mspID string, cert *x509.Certificate) rules.Caller {
	id := "x509::" + distinguishedName(&cert.Subject) + "::" + distinguishedName(&cert.Issuer)
	return rules.Caller{
		MSPID: mspID,
		ID:    base64.StdEncoding.EncodeToString([]byte(id)),
		Admin: slices.Contains(cert.Subject.OrganizationalUnit, AdminOU),
	}
}

// CallerOfPEM is CallerOf for a PEM certificate file's contents.
func CallerOfPEM(mspID string, certPEM []byte) (rules.Caller, error) {
	cert, err := parseCertificate(certPEM)
	if err != nil {
		return rules.Caller{}, err
	}
	return CallerOf(mspID, cert), nil
}

func parseCertificate(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// distinguishedName renders a name the way fabric-chaincode-go's cid
// package does (which follows Go's pkix.Name.String but uses its own
// attribute names), so ids computed here equal those the chaincode sees.
func distinguishedName(name *pkix.Name) string {
	rdns := name.ToRDNSequence()
	var s strings.Builder
	for i := range rdns {
		rdn := rdns[len(rdns)-1-i]
		if i > 0 {
			s.WriteByte(',')
		}
		for j, tv := range rdn {
			if j > 0 {
				s.WriteByte('+')
			}
			oid := tv.Type.String()
			typeName, ok := attributeTypeNames[oid]
			if !ok {
				if der, err := asn1.Marshal(tv.Value); err == nil {
					s.WriteString(oid + "=#" + hex.EncodeToString(der))
					continue
				}
				typeName = oid
			}
			s.WriteString(typeName + "=" + escapeDNValue(fmt.Sprint(tv.Value)))
		}
	}
	return s.String()
}

func escapeDNValue(v string) string {
	var out strings.Builder
	begin := 0
	for idx, c := range v {
		if (idx == 0 && (c == ' ' || c == '#')) || (idx == len(v)-1 && c == ' ') {
			out.WriteString(v[begin:idx] + "\\" + string(c))
			begin = idx + 1
			continue
		}
		switch c {
		case ',', '+', '"', '\\', '<', '>', ';':
			out.WriteString(v[begin:idx] + "\\" + string(c))
			begin = idx + 1
		}
	}
	out.WriteString(v[begin:])
	return out.String()
}

var attributeTypeNames = map[string]string{
	"2.5.4.6":  "C",
	"2.5.4.10": "O",
	"2.5.4.11": "OU",
	"2.5.4.3":  "CN",
	"2.5.4.5":  "SERIALNUMBER",
	"2.5.4.7":  "L",
	"2.5.4.8":  "ST",
	"2.5.4.9":  "STREET",
	"2.5.4.17": "POSTALCODE",
}

// mspFiles finds the certificate and key of an MSP directory: the first
// file in signcerts/ and in keystore/.
func mspFiles(dir string) (certFile, keyFile string, err error) {
	first := func(sub string) (string, error) {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return "", fmt.Errorf("MSP %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				return filepath.Join(dir, sub, e.Name()), nil
			}
		}
		return "", fmt.Errorf("MSP %s: no file in %s", dir, sub)
	}
	if certFile, err = first("signcerts"); err != nil {
		return "", "", err
	}
	if keyFile, err = first("keystore"); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
