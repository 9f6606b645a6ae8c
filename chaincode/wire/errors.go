package wire

// Fabric transports only an error's text. The chaincode tags each message
// with a stable code, and clients turn the tag back into the rules sentinel,
// so errors.Is works the same against the embedded ledger and the network.

import (
	"errors"
	"strings"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// The tag format is part of the contract's API: "[wotchain:<code>] message".
const (
	tagOpen  = "[wotchain:"
	tagClose = "] "
)

// Codes and the sentinel each stands for. The codes never change meaning;
// add new ones rather than reusing a code.
var codes = []struct {
	code string
	err  error
}{
	{"forbidden", rules.ErrForbidden},
	{"unknown-appliance", rules.ErrUnknownAppliance},
	{"conflict", rules.ErrConflict},
	{"broken-chain", rules.ErrBrokenChain},
	{"bad-signature", rules.ErrBadSignature},
	{"invalid", rules.ErrInvalid},
	{"not-found", rules.ErrNotFound},
	{"key-revoked", rules.ErrKeyRevoked},
}

// Internal is the code of errors that are none of the rules' kinds
// (a ledger read failing, a corrupt record).
const Internal = "internal"

// Code returns the code for err: the first rules sentinel it wraps, or Internal.
func Code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return Internal
}

// Message returns err's text tagged with its code, as the chaincode reports it.
func Message(err error) string {
	return tagOpen + Code(err) + tagClose + err.Error()
}

// Error is a contract error decoded from a tagged message. It unwraps to the
// rules sentinel of its code (nothing for Internal or unknown codes).
type Error struct {
	Code    string
	Message string // the contract's message, without the tag
	kind    error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.kind }

// Decode finds a tagged contract message in text (typically a gateway error
// whose text embeds the chaincode response) and returns it as an *Error, or
// nil when text holds no tag. The message runs to the end of its line.
func Decode(text string) *Error {
	i := strings.Index(text, tagOpen)
	if i < 0 {
		return nil
	}
	rest := text[i+len(tagOpen):]
	j := strings.Index(rest, tagClose)
	if j < 0 {
		return nil
	}
	code, msg := rest[:j], rest[j+len(tagClose):]
	if k := strings.IndexByte(msg, '\n'); k >= 0 {
		msg = msg[:k]
	}
	e := &Error{Code: code, Message: msg}
	for _, c := range codes {
		if c.code == code {
			e.kind = c.err
			break
		}
	}
	return e
}
