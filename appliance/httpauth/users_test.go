package httpauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cheapHash is an argon2id hash with the least cost, to keep tests fast;
// the encoding is the same as HashPassword's.
func cheapHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := hashWith(pw, 1, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("encoded form %s", h)
	}
	if !VerifyPassword(h, "correct horse") || VerifyPassword(h, "correct horsE") || VerifyPassword(h, "") {
		t.Fatal("verification wrong")
	}
	h2, _ := HashPassword("correct horse")
	if h2 == h {
		t.Fatal("no salt: two hashes of one password are equal")
	}
	// One changed character of the stored hash: the password no longer verifies.
	i := strings.LastIndexByte(h, '$') + 3
	flipped := h[:i] + string("AB"[boolIndex(h[i] == 'A')]) + h[i+1:]
	if VerifyPassword(flipped, "correct horse") {
		t.Fatal("a tampered hash verifies")
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUsersFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "http", "users")
	_, tokHash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{Name: "alice", Role: Admin, PasswordHash: cheapHash(t, "alice-password")},
		{Name: "prometheus", Role: Viewer, TokenHashes: []string{tokHash}},
	}
	if err := WriteUsers(path, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	got, err := ReadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "alice" || got[0].Role != Admin || got[1].PasswordHash != "" || got[1].TokenHashes[0] != tokHash {
		t.Fatalf("read back %+v", got)
	}
	if !VerifyPassword(got[0].PasswordHash, "alice-password") {
		t.Fatal("password does not verify after the round trip")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadUsers(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable users file: %v", err)
	}
	if users, err := ReadUsers(filepath.Join(t.TempDir(), "none")); err != nil || users != nil {
		t.Fatalf("missing file: %v %v", users, err)
	}
}

// A damaged or hand-edited line is refused, naming the file and line.
func TestUsersFileRefusesTamperedLines(t *testing.T) {
	good := "alice admin " + cheapHash(t, "alice-password")
	tok := TokenHash("wct_x")
	for _, c := range []struct{ name, line, want string }{
		{"unknown role", "mallory root " + cheapHash(t, "x"), `unknown role "root"`},
		{"missing hash", "mallory admin", "got 2 fields"},
		{"extra field", good + " " + tok + " more", "got 5 fields"},
		{"not argon2id", "mallory admin $2y$10$abcdefghijklmnopqrstuv", "not an encoded argon2id hash"},
		{"truncated hash", good[:len(good)-10], "bad hash"},
		{"costly parameters", strings.Replace(good, "m=64,", "m=4194304,", 1), "out of range"},
		{"odd parameters", strings.Replace(good, "t=1,", "t=01,", 1), "bad parameters"},
		{"bad token hash", good + " sha256:1234", "token hash"},
		{"upper-case token hash", good + " " + strings.ToUpper(tok), "token hash"},
		{"neither password nor token", "mallory viewer -", "neither a password nor a token"},
		{"bad name", "mal/lory viewer " + cheapHash(t, "x"), "user name"},
		{"twice", good, `"alice" appears twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			data := fileHeader + good + "\n\n" + c.line + "\n"
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadUsers(path)
			if err == nil || !strings.Contains(err.Error(), path+":4: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %s:4: ... %s", err, path, c.want)
			}
			// The running appliance lets nobody in with such a file.
			if _, err := OpenUsers(path); err == nil {
				t.Fatal("OpenUsers accepted it")
			}
		})
	}
}

// The appliance sees `wotchain user` changes without a restart, and a
// file that turns bad lets nobody in.
func TestUsersReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := WriteUsers(path, []User{{Name: "alice", Role: Viewer, PasswordHash: cheapHash(t, "alice-password")}}); err != nil {
		t.Fatal(err)
	}
	u, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if usr, ok, err := u.Password("alice", "alice-password"); !ok || err != nil || usr.Role != Viewer {
		t.Fatalf("alice: %v %v %+v", ok, err, usr)
	}
	if _, ok, _ := u.Password("alice", "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, ok, _ := u.Password("bob", "alice-password"); ok {
		t.Fatal("unknown user accepted")
	}
	tok, th, _ := NewToken()
	if err := WriteUsers(path, []User{{Name: "alice", Role: Admin, PasswordHash: cheapHash(t, "alice-password"), TokenHashes: []string{th}}}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(path, future, future) // coarse file systems: the size may be all that changed
	if usr, ok, err := u.Token(tok); !ok || err != nil || usr.Role != Admin {
		t.Fatalf("token after the change: %v %v %+v", ok, err, usr)
	}
	if _, ok, _ := u.Token(tok + "x"); ok {
		t.Fatal("a wrong token accepted")
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, future.Add(time.Minute), future.Add(time.Minute))
	if _, ok, err := u.Token(tok); ok || err == nil {
		t.Fatalf("a group-readable file still lets the token in (%v)", err)
	}
}

func TestTokens(t *testing.T) {
	a, ha, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := NewToken()
	if a == b || !strings.HasPrefix(a, "wct_") || len(a) != 4+43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if ha != TokenHash(a) || !validTokenHash(ha) || strings.Contains(ha, a) {
		t.Fatalf("hash %q", ha)
	}
}

func TestLoginLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLoginLimiter(func() time.Time { return now })
	for i := range loginBurst {
		if !l.allow("addr:10.0.0.1", "user:alice") {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if l.allow("addr:10.0.0.1", "user:bob") {
		t.Fatal("the address's sixth attempt allowed")
	}
	if l.allow("addr:10.0.0.2", "user:alice") {
		t.Fatal("the user's sixth attempt allowed from another address")
	}
	if !l.allow("addr:10.0.0.2", "user:bob") {
		t.Fatal("an unrelated address and user refused")
	}
	now = now.Add(loginEvery)
	if !l.allow("addr:10.0.0.1", "user:alice") || l.allow("addr:10.0.0.1", "user:alice") {
		t.Fatal("after one period, exactly one more attempt")
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newSessions(time.Hour, func() time.Time { return now })
	id, exp, err := s.create("alice")
	if err != nil || !exp.Equal(now.Add(time.Hour)) || len(id) < 40 {
		t.Fatalf("create: %q %v %v", id, exp, err)
	}
	other, _, _ := s.create("bob")
	if other == id {
		t.Fatal("session ids repeat")
	}
	now = now.Add(59 * time.Minute)
	if u, exp2, ok := s.user(id); !ok || u != "alice" || !exp2.Equal(exp) {
		t.Fatal("live session not found")
	}
	now = now.Add(time.Minute)
	if _, _, ok := s.user(id); ok {
		t.Fatal("expired session still valid")
	}
	s.end(other)
	if _, _, ok := s.user(other); ok {
		t.Fatal("ended session still valid")
	}
}

func TestAuditTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "http", "audit.jsonl")
	a, err := OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 5 {
		if err := a.Log(Event{Time: time.Unix(int64(i), 0).UTC(), Event: "login", User: "alice", Addr: "10.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("audit log mode %v", st.Mode().Perm())
	}
	got, err := a.Tail(2)
	if err != nil || len(got) != 2 || !strings.Contains(string(got[1]), `"time":"1970-01-01T00:00:04Z"`) {
		t.Fatalf("tail: %v %s", err, got)
	}
}
