// Package all registers every protocol of the appliance: import it for its
// side effect. A new protocol is one folder under protocols/ and one line
// here.
package all

import (
	_ "github.com/wotchain/wotchain/protocols/coap"
	_ "github.com/wotchain/wotchain/protocols/modbus"
	_ "github.com/wotchain/wotchain/protocols/opcua"
)
