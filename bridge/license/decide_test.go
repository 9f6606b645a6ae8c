package license

import (
	"slices"
	"testing"

	"github.com/wotchain/wotchain/chaincode/rules"
)

func TestLicensed(t *testing.T) {
	// A block of two devices: a's polls 7, 8, 9 and b's polls 3, 4, with
	// two polls of different devices at the same time (20) and two of one
	// device a nanosecond apart (30, 31).
	polls := []Poll{
		{Device: "a", Index: 7, Time: 10},
		{Device: "b", Index: 3, Time: 20},
		{Device: "a", Index: 8, Time: 20},
		{Device: "a", Index: 9, Time: 30},
		{Device: "b", Index: 4, Time: 31},
	}
	const sealedAt = 1000
	cases := []struct {
		name string
		g    rules.Grant
		want []int
	}{
		{"all devices, all time", rules.Grant{From: 0, To: 100}, []int{0, 1, 2, 3, 4}},
		{"one device", rules.Grant{Devices: []string{"a"}, From: 0, To: 100}, []int{0, 2, 3}},
		{"other devices only", rules.Grant{Devices: []string{"c"}, From: 0, To: 100}, nil},
		{"inclusive bounds", rules.Grant{From: 20, To: 30}, []int{1, 2, 3}},
		{"one instant", rules.Grant{Devices: []string{"b"}, From: 20, To: 20}, []int{1}},
		{"cut between 30 and 31", rules.Grant{From: 21, To: 30}, []int{3}},
		{"from one past a poll", rules.Grant{From: 11, To: 19}, nil},
		{"window before the block", rules.Grant{From: 0, To: 9}, nil},
		{"window after the block", rules.Grant{From: 32, To: 100}, nil},
		{"revoked after the seal", rules.Grant{From: 0, To: 100, RevokedAt: sealedAt + 1}, []int{0, 1, 2, 3, 4}},
		{"revoked at the seal", rules.Grant{From: 0, To: 100, RevokedAt: sealedAt}, nil},
		{"revoked before the seal", rules.Grant{Devices: []string{"a"}, From: 0, To: 100, RevokedAt: 1}, nil},
		{"two devices, window cuts both", rules.Grant{Devices: []string{"a", "b"}, From: 15, To: 30}, []int{1, 2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Licensed(&c.g, polls, sealedAt); !slices.Equal(got, c.want) {
				t.Fatalf("licensed %v, want %v", got, c.want)
			}
		})
	}
}
