// Package httpauth authenticates the appliance's HTTP interface: local
// users with argon2id password hashes and API tokens in one users file,
// roles, sessions, login rate limiting, an audit log, and the middleware
// that enforces a route table at one place.
package httpauth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/wotchain/wotchain/internal/durable"
)

// Role is what a user may read.
type Role string

const (
	// Viewer reads the status page, the status, devices, blocks' state,
	// aggregates and metrics.
	Viewer Role = "viewer"
	// Admin also reads raw readings, proof bundles and the audit log.
	Admin Role = "admin"
	// Public marks a route that needs no credentials (probes, login).
	Public Role = "public"
)

// ParseRole accepts viewer or admin.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Viewer, Admin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (viewer or admin)", s)
}

// allows says whether a user of role r may use a route that needs need.
func (r Role) allows(need Role) bool {
	switch need {
	case Public:
		return true
	case Viewer:
		return r == Viewer || r == Admin
	case Admin:
		return r == Admin
	}
	return false
}

// User is one line of the users file: `NAME ROLE HASH [TOKENS]`, where HASH
// is the password's argon2id hash in its standard encoded form ("-" for a
// user with tokens only) and TOKENS is a comma-separated list of the
// SHA-256 of its API tokens ("sha256:HEX").
type User struct {
	Name         string
	Role         Role
	PasswordHash string
	TokenHashes  []string
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidName refuses names that could not be written on one line of the file.
func ValidName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("user name %q: use 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	return nil
}

const fileHeader = "# wotchain HTTP users: NAME ROLE ARGON2ID-HASH [SHA256-TOKEN-HASHES]; edit with `wotchain user`\n"

// ReadUsers reads a users file. A missing file has no users. The file must
// not be readable or writable by anyone but its owner, and every line must
// be well formed: a damaged or hand-edited line is refused, naming it.
func ReadUsers(path string) ([]User, error) {
	data, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseUsers(path, data)
}

// readPrivate reads a file that holds secrets, refusing it when its mode
// lets others read or change it.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %#o lets others read or change it; chmod 600 %s", path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

func parseUsers(path string, data []byte) ([]User, error) {
	var users []User
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		u, err := parseUser(text)
		if err == nil && seen[u.Name] {
			err = fmt.Errorf("user %q appears twice", u.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}

func parseUser(line string) (User, error) {
	f := strings.Fields(line)
	if len(f) != 3 && len(f) != 4 {
		return User{}, fmt.Errorf("want NAME ROLE HASH [TOKENS], got %d fields", len(f))
	}
	if err := ValidName(f[0]); err != nil {
		return User{}, err
	}
	role, err := ParseRole(f[1])
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", f[0], err)
	}
	u := User{Name: f[0], Role: role}
	if f[2] != "-" {
		if _, err := decodeHash(f[2]); err != nil {
			return User{}, fmt.Errorf("user %s: password hash: %w", f[0], err)
		}
		u.PasswordHash = f[2]
	}
	if len(f) == 4 {
		for _, th := range strings.Split(f[3], ",") {
			if !validTokenHash(th) {
				return User{}, fmt.Errorf("user %s: token hash %q is not sha256:<64 hex digits>", f[0], th)
			}
			u.TokenHashes = append(u.TokenHashes, th)
		}
	}
	if u.PasswordHash == "" && len(u.TokenHashes) == 0 {
		return User{}, fmt.Errorf("user %s has neither a password nor a token", f[0])
	}
	return u, nil
}

func formatUsers(users []User) []byte {
	var b strings.Builder
	b.WriteString(fileHeader)
	for _, u := range users {
		hash := u.PasswordHash
		if hash == "" {
			hash = "-"
		}
		fmt.Fprintf(&b, "%s %s %s", u.Name, u.Role, hash)
		if len(u.TokenHashes) > 0 {
			b.WriteString(" " + strings.Join(u.TokenHashes, ","))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// WriteUsers replaces the users file (0600) atomically, creating its
// directory (0700) if needed. Run as root, it keeps the file's owner (or
// gives a new file its directory's), so the service can still read it.
func WriteUsers(path string, users []User) error {
	dir := filepath.Dir(path)
	// ref is the file replaced or the nearest directory that exists;
	// created are the directories MkdirAll is about to make.
	ref, created := path, []string(nil)
	for ; ; ref = filepath.Dir(ref) {
		if _, err := os.Stat(ref); err == nil || filepath.Dir(ref) == ref {
			break
		}
		if ref != path {
			created = append(created, ref)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := keepOwner(ref, append(created, tmp.Name())); err != nil {
		tmp.Close()
		return fmt.Errorf("keep the owner of %s: %w", path, err)
	}
	if err := durable.Write(tmp, formatUsers(users)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return durable.Rename(tmp.Name(), path)
}

// Argon2id parameters: RFC 9106's second recommended option (64 MiB, three
// passes), with the parallelism of a small appliance.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// argonParams is one encoded hash's parameters, salt and key.
type argonParams struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// HashPassword hashes a password with argon2id and returns the standard
// encoded form ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(password string) (string, error) {
	return hashWith(password, argonTime, argonMemory, argonThreads)
}

func hashWith(password string, t, m uint32, p uint8) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, t, m, p, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// decodeHash parses an encoded argon2id hash, refusing parameters that
// would let an edited file make each login cost the appliance too much.
func decodeHash(encoded string) (*argonParams, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("not an encoded argon2id hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var p argonParams
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads) != parts[3] {
		return nil, fmt.Errorf("bad parameters %q", parts[3])
	}
	if p.time < 1 || p.time > 16 || p.threads < 1 || p.threads > 16 || p.memory < 8*uint32(p.threads) || p.memory > 256*1024 {
		return nil, fmt.Errorf("parameters %q out of range (t 1-16, p 1-16, m up to 256 MiB)", parts[3])
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return nil, errors.New("bad salt")
	}
	if p.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return nil, errors.New("bad hash")
	}
	return &p, nil
}

// VerifyPassword says whether password matches an encoded argon2id hash,
// comparing in constant time.
func VerifyPassword(encoded, password string) bool {
	p, err := decodeHash(encoded)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// tokenPrefix marks WoTChain API tokens, so secret scanners and people
// recognise one.
const tokenPrefix = "wct_"

// NewToken returns a random API token (32 bytes) and the hash to store.
// The token itself is shown once and never stored.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is what the users file keeps of a token. A token has 256 bits
// of entropy, so a plain SHA-256 is enough: no guessing can reverse it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func validTokenHash(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}
