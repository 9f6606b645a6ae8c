package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
)

// A device and the simulators hold one key per registered protocol. They
// are decoded through a struct type built from the registry at decode time:
// the fixed fields of the Go type plus one field per protocol, tagged with
// its name. The yaml.v3 decoder that decodes the whole file decodes it (the
// old-style UnmarshalYAML hands its own decoder over), so unknown keys
// inside a protocol's section are refused as strictly as anywhere else,
// with their line, and the type named in messages stays the protocol's
// (modbus.Config).

// sectioned describes the struct type built for a Go type.
type sectioned struct {
	typ   reflect.Type      // fixed fields, then one per protocol
	names []protocols.Name  // protocol of field len(fixed)+i
	fixed []string          // names of the fixed fields
	base  reflect.Type      // the Go type, named in messages
	dyn   map[string]string // the built type's name in messages -> base's
}

// newSectioned builds the struct for base (a struct type): its fields with
// a yaml name, then for each protocol section(p) returns a type for, a
// field of that type tagged with the protocol's name.
func newSectioned(base reflect.Type, omitEmpty bool, section func(*protocols.Protocol) reflect.Type) *sectioned {
	s := &sectioned{base: base}
	var fields []reflect.StructField
	for i := 0; i < base.NumField(); i++ {
		f := base.Field(i)
		if !f.IsExported() || f.Tag.Get("yaml") == "-" {
			continue
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		s.fixed = append(s.fixed, f.Name)
	}
	for i, p := range protocols.All() {
		t := section(p)
		if t == nil {
			continue
		}
		tag := string(p.Name)
		if omitEmpty {
			tag += ",omitempty"
		}
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Section%d", i),
			Type: t,
			Tag:  reflect.StructTag(fmt.Sprintf(`yaml:%q`, tag)),
		})
		s.names = append(s.names, p.Name)
	}
	s.typ = reflect.StructOf(fields)
	s.dyn = map[string]string{s.typ.String(): base.String(), reflect.PointerTo(s.typ).String(): "*" + base.String()}
	return s
}

// decode decodes into a new value of the built type with unmarshal and
// copies the fixed fields to out (a pointer to base). It returns the built
// value, so the caller reads the sections.
func (s *sectioned) decode(unmarshal func(any) error, out reflect.Value) (reflect.Value, error) {
	v := reflect.New(s.typ)
	err := unmarshal(v.Interface())
	if te, ok := err.(*yaml.TypeError); ok {
		// The built type's name means nothing to an operator.
		for i, m := range te.Errors {
			for from, to := range s.dyn {
				m = strings.ReplaceAll(m, from, to)
			}
			te.Errors[i] = m
		}
	} else if err != nil {
		return reflect.Value{}, err
	}
	for i, name := range s.fixed {
		out.Elem().FieldByName(name).Set(v.Elem().Field(i))
	}
	return v.Elem(), err
}

// section returns the value of the protocol's field in a built value.
func (s *sectioned) section(v reflect.Value, i int) reflect.Value {
	return v.Field(len(s.fixed) + i)
}

// encode returns a value of the built type with the fixed fields of in (a
// base value); the caller sets the sections.
func (s *sectioned) encode(in reflect.Value) reflect.Value {
	v := reflect.New(s.typ).Elem()
	for i, name := range s.fixed {
		v.Field(i).Set(in.FieldByName(name))
	}
	return v
}

func deviceSections() *sectioned {
	return newSectioned(reflect.TypeFor[Device](), true, func(p *protocols.Protocol) reflect.Type {
		return reflect.TypeOf(p.NewSettings())
	})
}

// UnmarshalYAML decodes a device with its protocol's section; sections of
// other protocols are kept by name for validation to refuse.
func (d *Device) UnmarshalYAML(unmarshal func(any) error) error {
	s := deviceSections()
	v, err := s.decode(unmarshal, reflect.ValueOf(d))
	if !v.IsValid() {
		return err
	}
	d.Settings, d.others = nil, nil
	for i, name := range s.names {
		sec := s.section(v, i)
		if sec.IsNil() {
			continue
		}
		if name == d.Protocol {
			d.Settings = sec.Interface().(protocols.Settings)
		} else {
			d.others = append(d.others, name)
		}
	}
	return err
}

// MarshalYAML writes the device as it is read: the settings under the
// protocol's key.
func (d Device) MarshalYAML() (any, error) {
	s := deviceSections()
	v := s.encode(reflect.ValueOf(d))
	for i, name := range s.names {
		if name == d.Protocol && d.Settings != nil {
			sec := s.section(v, i)
			if sec.Type() != reflect.TypeOf(d.Settings) {
				return nil, fmt.Errorf("device %s: settings %T are not %s's", d.ID, d.Settings, name)
			}
			sec.Set(reflect.ValueOf(d.Settings))
		}
	}
	return v.Interface(), nil
}

func simulatorSections() *sectioned {
	return newSectioned(reflect.TypeFor[Simulators](), true, func(p *protocols.Protocol) reflect.Type {
		if p.Simulator.Start == nil {
			return nil
		}
		return reflect.TypeFor[string]()
	})
}

// UnmarshalYAML decodes the simulators' addresses, one key per protocol
// with a simulator.
func (sc *Simulators) UnmarshalYAML(unmarshal func(any) error) error {
	s := simulatorSections()
	v, err := s.decode(unmarshal, reflect.ValueOf(sc))
	if !v.IsValid() {
		return err
	}
	sc.Listen = nil
	for i, name := range s.names {
		if addr := s.section(v, i).String(); addr != "" {
			if sc.Listen == nil {
				sc.Listen = map[protocols.Name]string{}
			}
			sc.Listen[name] = addr
		}
	}
	return err
}

// MarshalYAML writes the simulators as they are read.
func (sc Simulators) MarshalYAML() (any, error) {
	s := simulatorSections()
	v := s.encode(reflect.ValueOf(sc))
	for i, name := range s.names {
		s.section(v, i).SetString(sc.Listen[name])
	}
	return v.Interface(), nil
}
