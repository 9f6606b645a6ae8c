package config

import "github.com/wotchain/wotchain/internal/secret"

// Secret reads a secret from an environment variable or a file (relative to
// the configuration), whichever is named; see internal/secret.
func (c *Config) Secret(what, env, file string) (string, error) {
	if env != "" {
		return secret.Value(what, env, "")
	}
	return secret.Value(what, "", c.Resolve(file))
}
