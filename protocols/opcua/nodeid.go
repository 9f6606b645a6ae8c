package opcua

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gopcua/opcua/ua"
)

// nodeRef is a configured node id. One given by namespace URI
// ("nsu=urn:vendor:plant;s=Temp") is resolved against the server's
// NamespaceArray on every connection, because a server may number its
// namespaces differently after a restart or an update.
type nodeRef struct {
	raw   string
	nsURI string     // set for "nsu=" ids
	ident string     // the identifier part of an "nsu=" id, e.g. "s=Temp"
	id    *ua.NodeID // the id itself for "ns=" and namespace 0 ids
}

// parseNodeRef parses "ns=<index>;<ident>", "nsu=<uri>;<ident>" or
// "<ident>" (namespace 0), where <ident> is i=, s=, g= or b=.
//
// ua.ParseNodeID accepts any unprefixed identifier as a string id in
// namespace 0 (so "Boiler.Temp" or "ns=1;S=Temp" would silently address the
// wrong node), hence the explicit prefix check.
func parseNodeRef(s string) (nodeRef, error) {
	ref := nodeRef{raw: s}
	ident := s
	if ns, rest, ok := strings.Cut(s, ";"); ok && (strings.HasPrefix(ns, "ns=") || strings.HasPrefix(ns, "nsu=")) {
		ident = rest
		if uri, isURI := strings.CutPrefix(ns, "nsu="); isURI {
			if uri == "" {
				return nodeRef{}, fmt.Errorf("invalid node id %q: empty namespace URI", s)
			}
			ref.nsURI, ref.ident = uri, rest
		}
	}
	if !slices.ContainsFunc([]string{"i=", "s=", "g=", "b="}, func(p string) bool { return strings.HasPrefix(ident, p) }) {
		return nodeRef{}, fmt.Errorf("invalid node id %q: identifier must start with i=, s=, g= or b=", s)
	}
	if ref.nsURI != "" {
		// Check the identifier with a stand-in index; the real one comes
		// from the server.
		if _, err := ua.ParseNodeID("ns=1;" + ident); err != nil {
			return nodeRef{}, fmt.Errorf("invalid node id %q: %w", s, err)
		}
		return ref, nil
	}
	id, err := ua.ParseNodeID(s)
	if err != nil {
		return nodeRef{}, fmt.Errorf("invalid node id %q: %w", s, err)
	}
	ref.id = id
	return ref, nil
}

// resolve returns the node id to send, looking a namespace URI up in the
// server's NamespaceArray.
func (r nodeRef) resolve(namespaces []string) (*ua.NodeID, error) {
	if r.nsURI == "" {
		return r.id, nil
	}
	idx := slices.Index(namespaces, r.nsURI)
	if idx < 0 {
		return nil, fmt.Errorf("node id %q: namespace %q is not in the server's NamespaceArray", r.raw, r.nsURI)
	}
	id, err := ua.ParseNodeID(fmt.Sprintf("ns=%d;%s", idx, r.ident))
	if err != nil {
		return nil, fmt.Errorf("node id %q: %w", r.raw, err)
	}
	return id, nil
}

// uriForm writes id with its namespace URI instead of its index
// ("nsu=urn:vendor:plant;s=Temp"), the form that survives renumbering.
// Namespace 0 ids and unknown indexes keep their plain form.
func uriForm(id *ua.NodeID, namespaces []string) string {
	s := id.String()
	ns := int(id.Namespace())
	if ns == 0 || ns >= len(namespaces) {
		return s
	}
	if _, ident, ok := strings.Cut(s, ";"); ok {
		return "nsu=" + namespaces[ns] + ";" + ident
	}
	return s
}
