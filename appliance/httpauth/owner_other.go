//go:build !unix

package httpauth

func keepOwner(string, []string) error { return nil }
