package config

import (
	"fmt"
	"os"
	"strings"
)

// Secret reads a secret from an environment variable or a file, whichever
// is named. Files holding secrets must not be readable by group or others.
func (c *Config) Secret(what, env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return v, nil
	}
	path := c.Resolve(file)
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: secret file %s has permissions %04o; it must not be accessible by group or others (chmod 600 %s)", what, path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return strings.TrimSpace(string(data)), nil
}
