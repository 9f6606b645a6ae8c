package modbus

import "strings"

// registerKind is one of the four Modbus data tables.
type registerKind uint8

const (
	kindHolding registerKind = iota
	kindInput
	kindCoil
	kindDiscrete
)

// allKinds is the order requests are planned and scanned in.
var allKinds = [...]registerKind{kindHolding, kindInput, kindCoil, kindDiscrete}

func parseRegisterKind(s string) (registerKind, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "holding":
		return kindHolding, true
	case "input":
		return kindInput, true
	case "coil":
		return kindCoil, true
	case "discrete":
		return kindDiscrete, true
	}
	return 0, false
}

func (k registerKind) String() string {
	switch k {
	case kindHolding:
		return "holding"
	case kindInput:
		return "input"
	case kindCoil:
		return "coil"
	case kindDiscrete:
		return "discrete"
	}
	return "unknown"
}

// isBit reports whether the table holds single bits rather than 16-bit words.
func (k registerKind) isBit() bool { return k == kindCoil || k == kindDiscrete }

// maxQuantity is the most items one read request may ask for (Modbus
// application protocol: 125 registers, 2000 bits).
func (k registerKind) maxQuantity() int {
	if k.isBit() {
		return maxBitsPerRequest
	}
	return maxRegistersPerRequest
}

// functionCode is the read function for the table.
func (k registerKind) functionCode() byte {
	switch k {
	case kindCoil:
		return 1
	case kindDiscrete:
		return 2
	case kindHolding:
		return 3
	}
	return 4
}

const (
	maxRegistersPerRequest = 125
	maxBitsPerRequest      = 2000
)

// dataType is how a point's raw bits are interpreted.
type dataType uint8

const (
	typeBool dataType = iota // a coil or discrete input
	typeInt16
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat32
	typeFloat64
	typeBit    // one bit of a 16-bit register
	typeString // Length registers of text
)

// registerTypeNames lists the types valid for holding and input registers,
// for error messages.
const registerTypeNames = "int16, uint16, int32, uint32, int64, uint64, float32, float64, bit or string"

func parseDataType(s string) (dataType, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "bool":
		return typeBool, true
	case "int16":
		return typeInt16, true
	case "uint16":
		return typeUint16, true
	case "int32":
		return typeInt32, true
	case "uint32":
		return typeUint32, true
	case "int64":
		return typeInt64, true
	case "uint64":
		return typeUint64, true
	case "float32":
		return typeFloat32, true
	case "float64":
		return typeFloat64, true
	case "bit":
		return typeBit, true
	case "string":
		return typeString, true
	}
	return 0, false
}

func (t dataType) String() string {
	switch t {
	case typeBool:
		return "bool"
	case typeInt16:
		return "int16"
	case typeUint16:
		return "uint16"
	case typeInt32:
		return "int32"
	case typeUint32:
		return "uint32"
	case typeInt64:
		return "int64"
	case typeUint64:
		return "uint64"
	case typeFloat32:
		return "float32"
	case typeFloat64:
		return "float64"
	case typeBit:
		return "bit"
	case typeString:
		return "string"
	}
	return "unknown"
}

// words is the number of 16-bit registers a numeric type occupies (bool and
// bit: one item). A string's size is its configured length instead.
func (t dataType) words() int {
	switch t {
	case typeInt32, typeUint32, typeFloat32:
		return 2
	case typeInt64, typeUint64, typeFloat64:
		return 4
	}
	return 1
}

func (t dataType) isInteger() bool {
	switch t {
	case typeInt16, typeUint16, typeInt32, typeUint32, typeInt64, typeUint64:
		return true
	}
	return false
}

// isNumeric reports whether scale and offset apply.
func (t dataType) isNumeric() bool { return t.isInteger() || t == typeFloat32 || t == typeFloat64 }

// byteOrder names where the value's big-endian bytes A B C D (E F G H) sit
// in the registers as received.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // as received (big endian)
	orderDCBA                  // fully reversed (little endian)
	orderBADC                  // bytes swapped inside each word
	orderCDAB                  // word order reversed, bytes kept
)

func parseByteOrder(s string) (byteOrder, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "ABCD":
		return orderABCD, true
	case "DCBA":
		return orderDCBA, true
	case "BADC":
		return orderBADC, true
	case "CDAB":
		return orderCDAB, true
	}
	return 0, false
}

func (o byteOrder) String() string {
	switch o {
	case orderABCD:
		return "ABCD"
	case orderDCBA:
		return "DCBA"
	case orderBADC:
		return "BADC"
	case orderCDAB:
		return "CDAB"
	}
	return "unknown"
}
