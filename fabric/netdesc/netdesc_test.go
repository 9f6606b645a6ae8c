package netdesc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	n := &Network{Dir: dir, Channel: "wotchain", Orgs: []Org{{MSPID: "AMSP", Peer: Node{Address: "127.0.0.1:7051"}, Users: []User{{Name: "Admin", Admin: true}}}}}
	if err := n.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	org, err := got.Org("AMSP")
	if err != nil || org.Peer.Address != "127.0.0.1:7051" || got.Channel != "wotchain" {
		t.Fatalf("org %+v, %v", org, err)
	}
	if u, err := org.User("Admin"); err != nil || !u.Admin {
		t.Fatalf("admin %+v, %v", u, err)
	}
	if _, err := got.Org("BMSP"); err == nil {
		t.Fatal("unknown organisation found")
	}
	if _, err := org.User("User9"); err == nil {
		t.Fatal("unknown user found")
	}
}

func TestLoadRefuses(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("Load found a description in an empty directory")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, File), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load accepted a truncated description")
	}
}
