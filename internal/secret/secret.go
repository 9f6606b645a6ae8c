// Package secret reads secrets (private keys, passwords, pre-shared keys)
// the one way the appliance allows: from a file only its user can access,
// or from an environment variable. Never from the YAML itself.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Check refuses a file that group or others can read or write.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has permissions %04o: it must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	return nil
}

// ReadFile reads a secret file after Check.
func ReadFile(path string) ([]byte, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// Value reads a secret from the environment variable env or, when env is
// empty, from file; what names the secret in errors. Trailing newlines
// (editors add them) are removed; an empty secret is an error.
func Value(what, env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return v, nil
	}
	b, err := ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", what, file)
	}
	return v, nil
}
