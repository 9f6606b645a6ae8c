package modbus

import "github.com/wotchain/wotchain/protocols"

// PointNames lists the configured points' names (protocols.NamedPoints).
func (c *Config) PointNames() []protocols.PointName {
	names := make([]string, len(c.Points))
	for i, p := range c.Points {
		names[i] = p.Name
	}
	return protocols.PointNamesOf(names)
}
