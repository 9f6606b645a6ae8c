package rules

import (
	"encoding/base64"
	"strings"
)

// IdentityName is how an identity is shown to people: its MSP and, for a
// Fabric client identity, the common name of its certificate's subject
// ("ManufacturerMSP/User1@manufacturer.wotchain.local"), or the whole
// subject when it has no common name. Fabric's id is base64 of
// "x509::<subject DN>::<issuer DN>", unreadable as it is; an id of another
// form (the embedded ledger's) is shown as it is. Records and --json keep
// the raw id, which is what the contract compares.
func IdentityName(mspID, id string) string {
	return mspID + "/" + subjectName(id)
}

func subjectName(id string) string {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return id
	}
	rest, ok := strings.CutPrefix(string(raw), "x509::")
	if !ok {
		return id
	}
	subject, _, ok := strings.Cut(rest, "::")
	if !ok || subject == "" {
		return id
	}
	for _, rdn := range splitDN(subject, ',') {
		for _, attr := range splitDN(rdn, '+') {
			if cn, ok := strings.CutPrefix(attr, "CN="); ok {
				return unescapeDN(cn)
			}
		}
	}
	return subject
}

// splitDN splits a distinguished name at the separators (',' between
// RDNs, '+' inside one) that are not escaped (RFC 4514, as Fabric's cid
// library writes it).
func splitDN(dn string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, dn[start:i])
			start = i + 1
		}
	}
	return append(parts, dn[start:])
}

func unescapeDN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
