//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "verifywasm runs in a browser: build it with GOOS=js GOARCH=wasm go build -o appliance/httpapi/web/verify/verify.wasm ./appliance/cmd/verifywasm (make build does)")
	os.Exit(2)
}
