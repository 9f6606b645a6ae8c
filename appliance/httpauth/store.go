package httpauth

import (
	"errors"
	"os"
	"sync"
	"time"
)

// Users is the users file as the running appliance sees it: reread when it
// changes, so `wotchain user` takes effect without a restart.
type Users struct {
	path string
	// hashing bounds concurrent password checks: each argon2id run takes
	// 64 MiB, and many clients at once must not exhaust the appliance.
	hashing chan struct{}

	mu      sync.Mutex
	modTime time.Time
	size    int64
	byName  map[string]User
	byToken map[string]string // token hash -> user name
	err     error             // the last reread's failure; nobody is let in meanwhile
}

// OpenUsers reads the users file at path; it is an error if the file is
// damaged or open to others, not if it does not exist yet.
func OpenUsers(path string) (*Users, error) {
	u := &Users{path: path, hashing: make(chan struct{}, maxHashing)}
	if err := u.refresh(); err != nil {
		return nil, err
	}
	return u, nil
}

// Path is the users file.
func (u *Users) Path() string { return u.path }

// Count is the number of users.
func (u *Users) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	_ = u.refreshLocked()
	return len(u.byName)
}

func (u *Users) refresh() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refreshLocked()
}

// refreshLocked rereads the file if its size or time changed. On failure
// the previous users are dropped: a file that cannot be trusted lets no
// one in.
func (u *Users) refreshLocked() error {
	st, err := os.Stat(u.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		u.byName, u.byToken, u.err, u.modTime, u.size = nil, nil, nil, time.Time{}, 0
		return nil
	case err != nil:
		u.byName, u.byToken, u.err = nil, nil, err
		return err
	case u.byName != nil && st.ModTime().Equal(u.modTime) && st.Size() == u.size && u.err == nil:
		return nil
	}
	list, err := ReadUsers(u.path)
	if err != nil {
		u.byName, u.byToken, u.err = nil, nil, err
		return err
	}
	u.byName, u.byToken = make(map[string]User, len(list)), map[string]string{}
	for _, usr := range list {
		u.byName[usr.Name] = usr
		for _, th := range usr.TokenHashes {
			u.byToken[th] = usr.Name
		}
	}
	u.modTime, u.size, u.err = st.ModTime(), st.Size(), nil
	return nil
}

// lookup returns the current user of that name.
func (u *Users) lookup(name string) (User, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refreshLocked(); err != nil {
		return User{}, false, err
	}
	usr, ok := u.byName[name]
	return usr, ok, nil
}

// dummyHash is verified when the user is unknown, so an answer takes as
// long whether the name exists or not.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("wotchain-no-such-user")
	return h
})

// maxHashing is how many password checks run at once.
const maxHashing = 2

// Password returns the user whose name and password match.
func (u *Users) Password(name, password string) (User, bool, error) {
	usr, ok, err := u.lookup(name)
	if err != nil {
		return User{}, false, err
	}
	u.hashing <- struct{}{}
	defer func() { <-u.hashing }()
	if !ok || usr.PasswordHash == "" {
		VerifyPassword(dummyHash(), password)
		return User{}, false, nil
	}
	if !VerifyPassword(usr.PasswordHash, password) {
		return User{}, false, nil
	}
	return usr, true, nil
}

// Token returns the user an API token belongs to.
func (u *Users) Token(token string) (User, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refreshLocked(); err != nil {
		return User{}, false, err
	}
	name, ok := u.byToken[TokenHash(token)]
	if !ok {
		return User{}, false, nil
	}
	usr, ok := u.byName[name]
	return usr, ok, nil
}
