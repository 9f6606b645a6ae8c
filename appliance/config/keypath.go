package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports decoding problems as text with a line and no key
// ("line 35: cannot unmarshal !!str `eleven` into uint16", "line 8: field
// confirm not found in type coap.Point"). The document's node tree has the
// same positions, so the key path of the node the message is about is
// found there, by its line and its key or value.

// entry is one node of the document with the key path that leads to it;
// key is nil for an item of a sequence.
type entry struct {
	path       string
	key, value *yaml.Node
}

// entries lists the document's nodes in document order. Aliases are not
// followed: yaml.v3 reports problems inside an alias at the anchor.
func entries(root *yaml.Node) []entry {
	var out []entry
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out = append(out, entry{p, k, v})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out = append(out, entry{p, nil, v})
				walk(v, p)
			}
		}
	}
	if root != nil {
		walk(root, "")
	}
	return out
}

var (
	unknownKey   = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	duplicateKey = regexp.MustCompile(`^field (\S+) already set in type \S+$`)
	cannotDecode = regexp.MustCompile("^cannot unmarshal (!!\\S+)(?: `(.*)`)? into .+$")
)

// withKeyPath rewrites a yaml.v3 message about line (without its "line N: "
// prefix) to name the key path: "devices[0].modbus.points[3].address:
// cannot unmarshal ...", "devices[0].coap.points[1]: unknown key confirm".
// A message it cannot place is returned as it is.
func withKeyPath(es []entry, line int, msg string) string {
	if m := unknownKey.FindStringSubmatch(msg); m != nil {
		return inSection(es, line, m[1], "unknown key "+m[1])
	}
	if m := duplicateKey.FindStringSubmatch(msg); m != nil {
		return inSection(es, line, m[1], "key "+m[1]+" is set twice")
	}
	if m := cannotDecode.FindStringSubmatch(msg); m != nil {
		for _, e := range es {
			if e.value.Line == line && shownAs(e.value, m[1], m[2]) {
				return e.path + ": " + msg
			}
		}
		return msg
	}
	// The configuration's own value types (durations, sizes) quote the
	// value they refuse; a value alone on its line needs no quote.
	var onLine []entry
	for _, e := range es {
		if e.value.Line == line && e.value.Kind == yaml.ScalarNode {
			if strings.Contains(msg, strconv.Quote(e.value.Value)) {
				return e.path + ": " + msg
			}
			onLine = append(onLine, e)
		}
	}
	if len(onLine) == 1 {
		return onLine[0].path + ": " + msg
	}
	return msg
}

// inSection names the section that holds key (the key at line) before msg;
// a top-level key has none.
func inSection(es []entry, line int, key, msg string) string {
	for _, e := range es {
		if e.key != nil && e.key.Line == line && e.key.Value == key {
			if section, ok := strings.CutSuffix(e.path, "."+key); ok {
				return section + ": " + msg
			}
			return msg
		}
	}
	return msg
}

// shownAs says whether n is the node yaml.v3 shows as tag and value in a
// "cannot unmarshal" message (it cuts values longer than 10 bytes to 7 and
// "...", and shows no value for a sequence or a mapping).
func shownAs(n *yaml.Node, tag, value string) bool {
	if n.ShortTag() != tag {
		return false
	}
	if n.Kind != yaml.ScalarNode {
		return true
	}
	v := n.Value
	if len(v) > 10 {
		v = v[:7] + "..."
	}
	return v == value
}
