package opcua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// BrowseOptions configure Browse.
type BrowseOptions struct {
	// Connection holds the security and user settings, with the same keys
	// and rules as a device's opcua section: security_policy,
	// security_mode, trust_on_first_use, username, password_file,
	// password_env, user_cert_file, user_key_file. Its Endpoint, Points and
	// subscription settings are ignored.
	Connection Config
	// Root is the node to list from; default "i=85", the Objects folder.
	// "ns=" and "nsu=" forms are accepted.
	Root string
	// MaxDepth is how many levels below Root are listed; default 3.
	MaxDepth int
	// NamespaceURIs prints node ids as "nsu=<namespace URI>;..." instead of
	// "ns=<index>;...": the form to put in a configuration, since a server
	// may renumber its namespaces.
	NamespaceURIs bool
	// StateDir holds the application certificate and trust list, as
	// protocols.Options.StateDir; needed for a security policy other than
	// None.
	StateDir string
	Timeout  time.Duration // per request; default DefaultTimeout
	Logger   *slog.Logger
}

// DefaultBrowseDepth is BrowseOptions.MaxDepth when unset.
const DefaultBrowseDepth = 3

// maxBrowseDepth bounds recursion whatever is asked for.
const maxBrowseDepth = 32

// Browse connects to endpoint (opc.tcp://host[:port][/path]; "opcua://" is
// accepted as a synonym) and writes the address space below opts.Root to w,
// one node per line, indented by level, in columns:
//
//	NODE ID                      BROWSE NAME    CLASS     DATA TYPE
//	ns=1;s=Boiler                1:Boiler       Object
//	  ns=1;s=Boiler.Temperature  1:Temperature  Variable  Double
//
// The node ids are the ones to write as a point's node_id. Nodes reached
// twice are listed again but not descended into again.
func Browse(ctx context.Context, endpoint string, opts BrowseOptions, w io.Writer) error {
	if rest, ok := strings.CutPrefix(endpoint, "opcua://"); ok {
		endpoint = "opc.tcp://" + rest
	}
	if err := validateEndpoint(endpoint); err != nil {
		return fmt.Errorf("opcua: browse: endpoint: %w", err)
	}
	if err := opts.Connection.validateConnection(); err != nil {
		return fmt.Errorf("opcua: browse %s: %w", endpoint, err)
	}
	rootStr := opts.Root
	if rootStr == "" {
		rootStr = "i=85"
	}
	root, err := parseNodeRef(rootStr)
	if err != nil {
		return fmt.Errorf("opcua: browse %s: root: %w", endpoint, err)
	}
	depth := opts.MaxDepth
	if depth <= 0 {
		depth = DefaultBrowseDepth
	}
	depth = min(depth, maxBrowseDepth)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := protocols.Logger(opts.Logger).With("protocol", "opcua", "endpoint", endpoint)

	conn := opts.Connection
	d, err := newDialer(&conn, endpoint, opts.StateDir, timeout, "wotchain browse", log)
	if err != nil {
		return fmt.Errorf("opcua: browse %s: %w", endpoint, err)
	}
	c, _, err := d.dial(ctx)
	if err != nil {
		return fmt.Errorf("opcua: browse %s: %w", endpoint, err)
	}
	defer closeClient(c, timeout)

	rootID, err := root.resolve(c.Namespaces())
	if err != nil {
		return fmt.Errorf("opcua: browse %s: root: %w", endpoint, err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	b := &browser{
		client: c, namespaces: c.Namespaces(), out: tw, maxDepth: depth, timeout: timeout,
		uris: opts.NamespaceURIs, visited: map[string]bool{rootID.String(): true},
	}
	fmt.Fprintln(tw, "NODE ID\tBROWSE NAME\tCLASS\tDATA TYPE")
	walkErr := b.walk(ctx, rootID, 0)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("opcua: browse %s: write: %w", endpoint, err)
	}
	if walkErr != nil {
		return fmt.Errorf("opcua: browse %s: %w", endpoint, walkErr)
	}
	return nil
}

// browser walks an address space depth first, one Browse (plus
// BrowseNext) and one Read of data types per node with children.
type browser struct {
	client     *gopcua.Client
	namespaces []string
	out        io.Writer
	maxDepth   int
	timeout    time.Duration
	uris       bool
	visited    map[string]bool
}

func (b *browser) walk(ctx context.Context, node *ua.NodeID, depth int) error {
	refs, err := b.children(ctx, node)
	if err != nil {
		return fmt.Errorf("browse %s: %w", node, err)
	}
	ids := make([]*ua.NodeID, len(refs))
	for i, r := range refs {
		ids[i] = b.localID(r.NodeID)
	}
	types := b.dataTypes(ctx, refs, ids)
	for i, r := range refs {
		name := ""
		if r.BrowseName != nil {
			name = r.BrowseName.Name
			if r.BrowseName.NamespaceIndex != 0 {
				name = fmt.Sprintf("%d:%s", r.BrowseName.NamespaceIndex, name)
			}
		}
		idStr := "(remote) " + r.NodeID.String()
		if ids[i] != nil {
			idStr = b.format(ids[i])
		}
		class := strings.TrimPrefix(r.NodeClass.String(), "NodeClass")
		fmt.Fprintf(b.out, "%s%s\t%s\t%s\t%s\n", strings.Repeat("  ", depth), idStr, name, class, types[i])

		if ids[i] == nil || depth+1 >= b.maxDepth || b.visited[ids[i].String()] {
			continue
		}
		b.visited[ids[i].String()] = true
		if err := b.walk(ctx, ids[i], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// children returns the hierarchical references of node, following
// continuation points.
func (b *browser) children(ctx context.Context, node *ua.NodeID) ([]*ua.ReferenceDescription, error) {
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.client.Browse(rctx, &ua.BrowseRequest{
		View: &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
		NodesToBrowse: []*ua.BrowseDescription{{
			NodeID:          node,
			BrowseDirection: ua.BrowseDirectionForward,
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
			IncludeSubtypes: true,
			ResultMask:      uint32(ua.BrowseResultMaskAll),
		}},
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != 1 || resp.Results[0] == nil {
		return nil, errors.New("server returned no browse result")
	}
	res := resp.Results[0]
	var refs []*ua.ReferenceDescription
	for {
		if res.StatusCode != ua.StatusOK {
			return nil, res.StatusCode
		}
		refs = append(refs, res.References...)
		if len(res.ContinuationPoint) == 0 {
			break
		}
		next, err := b.client.BrowseNext(rctx, &ua.BrowseNextRequest{ContinuationPoints: [][]byte{res.ContinuationPoint}})
		if err != nil {
			return nil, err
		}
		if len(next.Results) != 1 || next.Results[0] == nil {
			return nil, errors.New("server returned no browse-next result")
		}
		res = next.Results[0]
	}
	// A child reached through several hierarchical references (say
	// HasComponent and Organizes) is listed once.
	var out []*ua.ReferenceDescription
	seen := make(map[string]bool, len(refs))
	for _, r := range refs {
		if r == nil || r.NodeID == nil || r.NodeID.NodeID == nil {
			continue
		}
		key := r.NodeID.NodeID.String() + "|" + r.NodeID.NamespaceURI
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, r)
	}
	return out, nil
}

// dataTypes reads the DataType attribute of the variables among refs, in
// one request. A failure only leaves the column empty: the list is still
// worth having.
func (b *browser) dataTypes(ctx context.Context, refs []*ua.ReferenceDescription, ids []*ua.NodeID) []string {
	types := make([]string, len(refs))
	var req []*ua.ReadValueID
	var at []int
	for i, r := range refs {
		if r.NodeClass == ua.NodeClassVariable && ids[i] != nil {
			req = append(req, &ua.ReadValueID{NodeID: ids[i], AttributeID: ua.AttributeIDDataType})
			at = append(at, i)
		}
	}
	if len(req) == 0 {
		return types
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.client.Read(rctx, &ua.ReadRequest{NodesToRead: req, TimestampsToReturn: ua.TimestampsToReturnNeither})
	if err != nil || len(resp.Results) != len(req) {
		return types
	}
	for k, dv := range resp.Results {
		if dv == nil || dv.Status != ua.StatusOK || dv.Value == nil {
			continue
		}
		switch t := dv.Value.Value().(type) {
		case *ua.NodeID:
			types[at[k]] = b.typeName(t)
		case *ua.ExpandedNodeID: // the wrong type, but some servers send it
			if n := b.localID(t); n != nil {
				types[at[k]] = b.typeName(n)
			}
		}
	}
	return types
}

// typeName names the built-in and standard types ("Double"); other types
// show as node ids.
func (b *browser) typeName(t *ua.NodeID) string {
	if t.Namespace() == 0 && t.Type() != ua.NodeIDTypeString {
		if n := id.Name(t.IntID()); n != "" {
			return n
		}
	}
	return b.format(t)
}

// localID turns a reference's expanded node id into a node id of this
// server, or nil for a node on another server. It re-parses the id so the
// namespace URI flag of the expanded form does not leak into requests.
func (b *browser) localID(e *ua.ExpandedNodeID) *ua.NodeID {
	if e == nil || e.NodeID == nil || e.ServerIndex != 0 {
		return nil
	}
	s := e.NodeID.String()
	if e.NamespaceURI != "" {
		ref, err := parseNodeRef("nsu=" + e.NamespaceURI + ";" + identPart(s))
		if err != nil {
			return nil
		}
		n, err := ref.resolve(b.namespaces)
		if err != nil {
			return nil
		}
		return n
	}
	n, err := ua.ParseNodeID(s)
	if err != nil {
		return nil
	}
	return n
}

func identPart(s string) string {
	if _, ident, ok := strings.Cut(s, ";"); ok {
		return ident
	}
	return s
}

func (b *browser) format(n *ua.NodeID) string {
	if b.uris {
		return uriForm(n, b.namespaces)
	}
	return n.String()
}
