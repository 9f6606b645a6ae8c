// Package fieldtest checks configuration errors reported as
// *protocols.FieldError (by the protocol packages, aggregate and publish).
// It is apart from protocolstest so that using it registers no fake
// protocol.
package fieldtest

import (
	"errors"
	"testing"

	"github.com/wotchain/wotchain/protocols"
)

// Paths returns the Field of every *protocols.FieldError in err, which
// Validate builds with errors.Join; nil for a nil err. Any other kind of
// error fails the test.
func Paths(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) is not an errors.Join result", err, err)
	}
	var paths []string
	for _, e := range joined.Unwrap() {
		var fe *protocols.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *protocols.FieldError", e, e)
		}
		paths = append(paths, fe.Field)
	}
	return paths
}
