//go:build js && wasm

package main

import "syscall/js"

// main registers wotchainVerify(bundleJSON, publicKey) -> report JSON and
// keeps the program alive for the page's calls.
func main() {
	js.Global().Set("wotchainVerify", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeString {
			return `{"ok":false,"error":"wotchainVerify takes two strings: the bundle's JSON and a public key (or \"\")","links":[],"not_checked":[]}`
		}
		return reportJSON(check([]byte(args[0].String()), args[1].String()))
	}))
	select {}
}
