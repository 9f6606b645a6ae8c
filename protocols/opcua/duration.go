package opcua

import "github.com/wotchain/wotchain/internal/yamltime"

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration
