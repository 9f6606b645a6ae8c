// Package archtest holds the test that keeps the module's layers apart
// (docs/ARCHITECTURE.md, "Layers"): an import that points the wrong way
// fails `go test`, not a review.
package archtest
