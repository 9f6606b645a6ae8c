package fabricledger

import (
	"context"
	"errors"
	"fmt"
	"testing"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

func TestMapError(t *testing.T) {
	tagged := wire.Message(fmt.Errorf("%w: block abc is recorded elsewhere", rules.ErrConflict))
	// Endorsement failures carry the chaincode's message only in the details.
	st, err := status.New(codes.Aborted, "failed to endorse transaction, see attached details for more info").
		WithDetails(&gwproto.ErrorDetail{Address: "127.0.0.1:7051", MspId: "ManufacturerMSP", Message: "chaincode response 500, " + tagged})
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]error{
		"details": st.Err(),
		"message": status.Error(codes.Unknown, "evaluate call to endorser returned error: chaincode response 500, "+tagged),
	} {
		t.Run(name, func(t *testing.T) {
			got := mapError(wire.TxRecordCredential, "endorse", in)
			if !errors.Is(got, rules.ErrConflict) {
				t.Fatalf("mapError(%v) = %v, not a conflict", in, got)
			}
		})
	}
	plain := status.Error(codes.Unavailable, "no peers")
	if got := mapError("x", "endorse", plain); !errors.Is(got, plain) || errors.Is(got, rules.ErrConflict) {
		t.Fatalf("untagged error mapped to %v", got)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.DeadlineExceeded, "x"), true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{status.Error(codes.FailedPrecondition, "no combination of peers can be derived which satisfy the endorsement policy"), true},
		{status.Error(codes.FailedPrecondition, "no endorsers found in the gateway's organization"), false},
		{status.Error(codes.Aborted, "x"), false},
		{errors.New("x"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v", tc.err, got)
		}
	}
}

func TestUnknownFunction(t *testing.T) {
	st, err := status.New(codes.Aborted, "failed to endorse transaction, see attached details for more info").
		WithDetails(&gwproto.ErrorDetail{Address: "127.0.0.1:7051", MspId: "ManufacturerMSP",
			Message: "chaincode response 500, Function RecordCredentials not found in contract wotchain"})
	if err != nil {
		t.Fatal(err)
	}
	// As submit returns it: mapped, wrapping the gateway's error.
	mapped := mapError(wire.TxRecordCredentials, "endorse", st.Err())
	if !unknownFunction(mapped, wire.TxRecordCredentials) {
		t.Fatalf("unknownFunction(%v) = false", mapped)
	}
	if unknownFunction(mapped, wire.TxRecordCredential) {
		t.Fatal("another transaction's absence taken for RecordCredential's")
	}
	tagged := mapError(wire.TxRecordCredentials, "endorse", status.Error(codes.Unknown, "chaincode response 500, "+wire.Message(fmt.Errorf("%w: block 3", rules.ErrBrokenChain))))
	if unknownFunction(tagged, wire.TxRecordCredentials) || unknownFunction(errors.New("Function"), wire.TxRecordCredentials) {
		t.Fatal("a contract error taken for a missing function")
	}
}
