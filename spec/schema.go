package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// schema is a JSON Schema (draft 2020-12) object, with the keywords this
// package uses in the order they read best.
type schema struct {
	Schema               string             `json:"$schema,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Examples             []any              `json:"examples,omitempty"`
	Ref                  string             `json:"$ref,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Const                string             `json:"const,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	Minimum              *int64             `json:"minimum,omitempty"`
	Maximum              *uint64            `json:"maximum,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Properties           map[string]*schema `json:"properties,omitempty"`
	PropertyNames        *schema            `json:"propertyNames,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
	AnyOf                []*schema          `json:"anyOf,omitempty"`
	Defs                 map[string]*schema `json:"$defs,omitempty"`
}

// schemaer is implemented by the scalar types that give their own schema.
type schemaer interface{ jsonSchema() *schema }

var schemaerType = reflect.TypeFor[schemaer]()

// variableRef allows a ${...} reference where a typed scalar is expected:
// such a string is only typed after expansion.
const variableRef = "#/$defs/variable"

// JSONSchema returns the JSON Schema (draft 2020-12) of a profile, derived
// from Profile's fields, yaml keys and validate tags. Every object forbids
// keys it does not list. A string containing a ${...} reference is allowed
// wherever a number, boolean or constrained string is, since only Parse can
// tell what it expands to. The rules that span several fields (mount types'
// fields, ID map overlaps, namespace consistency) are left to Parse.
func JSONSchema() ([]byte, error) {
	root, err := typeSchema(reflect.TypeFor[Profile](), "")
	if err != nil {
		return nil, err
	}
	root.Schema = "https://json-schema.org/draft/2020-12/schema"
	root.Title = "cell profile " + APIVersion
	root.Defs = map[string]*schema{
		"variable": {
			Description: "A string with a ${...} variable, typed after expansion.",
			Type:        "string",
			Pattern:     `\$\{[^}]+\}`,
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// typeSchema returns the schema of the Go type t at the field path path.
func typeSchema(t reflect.Type, path string) (*schema, error) {
	if t.Kind() != reflect.Pointer && t.Implements(schemaerType) {
		s := reflect.Zero(t).Interface().(schemaer).jsonSchema()
		document(s, path)
		return s, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), path)
	case reflect.Struct:
		s := &schema{Type: "object", Properties: make(map[string]*schema), AdditionalProperties: false}
		for _, f := range YAMLFields(t) {
			sf := t.FieldByIndex(f.Index)
			fp := joinKey(path, f.Name)
			fs, err := typeSchema(sf.Type, fp)
			if err != nil {
				return nil, err
			}
			required, err := applyTags(fs, sf.Tag.Get("validate"))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", fp, err)
			}
			if v, ok := fs.AdditionalProperties.(*schema); ok && fs.PropertyNames != nil {
				nullable(v)
			}
			if required {
				s.Required = append(s.Required, f.Name)
			} else {
				nullable(fs)
			}
			if d, ok := fieldDocs[fp]; ok {
				fs.Description, fs.Examples = d.desc, d.examples
			}
			s.Properties[f.Name] = fs
		}
		return s, nil
	case reflect.Slice:
		items, err := typeSchema(t.Elem(), path)
		if err != nil {
			return nil, err
		}
		return &schema{Type: "array", Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: map keys must be strings, not %s", path, t.Key())
		}
		v, err := typeSchema(t.Elem(), path)
		if err != nil {
			return nil, err
		}
		return &schema{Type: "object", PropertyNames: &schema{Type: "string"}, AdditionalProperties: v}, nil
	case reflect.String:
		return &schema{Type: "string"}, nil
	case reflect.Bool:
		return &schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		lo, hi := int64(-1)<<(bits-1), uint64(1)<<(bits-1)-1
		return &schema{Type: "integer", Minimum: &lo, Maximum: &hi}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		lo, hi := int64(0), uint64(math.MaxUint64)>>(64-t.Bits())
		return &schema{Type: "integer", Minimum: &lo, Maximum: &hi}, nil
	}
	return nil, fmt.Errorf("%s: no JSON Schema for Go type %s", path, t)
}

// document gives the properties of a scalar type's own schema s, at the
// field path path, their descriptions and examples from fieldDocs.
func document(s *schema, path string) {
	if s == nil {
		return
	}
	for k, p := range s.Properties {
		fp := joinKey(path, k)
		if d, ok := fieldDocs[fp]; ok && p.Description == "" {
			// A copy: a type's schema may share one value between
			// properties (soft and hard share a schema).
			c := *p
			c.Description, c.Examples = d.desc, d.examples
			p = &c
			s.Properties[k] = p
		}
		document(p, fp)
	}
	for _, a := range s.AnyOf {
		document(a, path)
	}
	document(s.Items, path)
}

// applyTags adds to s what the validate tag says, descending into the
// items or values at "dive" and into the keys between "keys" and
// "endkeys". It reports whether the field is required, and fails on a tag
// it does not know, so that a new rule gets a decision here.
func applyTags(s *schema, tag string) (required bool, err error) {
	cur := s
	for _, t := range strings.Split(tag, ",") {
		name, param, _ := strings.Cut(t, "=")
		switch name {
		case "":
		case "required":
			required = cur == s
		case "omitempty", "endkeys":
			if name == "endkeys" {
				cur = s.AdditionalProperties.(*schema)
			}
		case "dive":
			switch {
			case cur.Items != nil:
				cur = cur.Items
			case cur.PropertyNames != nil:
				cur = cur.AdditionalProperties.(*schema)
			default:
				return false, fmt.Errorf("dive on a non-container")
			}
		case "keys":
			cur = s.PropertyNames
		case "min", "max":
			n, err := strconv.ParseUint(param, 0, 64)
			if err != nil {
				return false, fmt.Errorf("tag %s: %w", t, err)
			}
			limit(cur, name, n)
		case "apiversion":
			cur.Const = APIVersion
		case "profilename":
			cur.Pattern = profileNameRE().String()
		case "envname":
			cur.Pattern = envNameRE().String()
		case "abspath":
			cur.Pattern = "^/"
		case "hostname_rfc1123":
			cur.Pattern = `^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}(\.[a-zA-Z0-9][a-zA-Z0-9-]{0,62})*$`
		case "oneof":
			cur.Enum = strings.Fields(param)
		case "cpulist":
			cur.Pattern = `^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`
		case "cgroupname":
			cur.Pattern = `^(/|/?[^/]+(/[^/]+)*)$`
		case "devaccess":
			cur.Pattern = `^(r|w|m|rw|wr|rm|mr|wm|mw|rwm|rmw|wrm|wmr|mrw|mwr)$`
		case "sysctlname":
			cur.Pattern = `^[a-z0-9_-]+(\.[a-z0-9_-]+)+$`
		case "domain":
			cur.Pattern = domainPattern
		case "pagesize":
			cur.Pattern = `^[1-9][0-9]{0,9}[KMG]B$`
		case "ifname":
			cur.Pattern = `^[^/: \t\n]{1,15}$`
		case "nonul":
			// Not expressible in a form editors handle well; Parse checks it.
		default:
			return false, fmt.Errorf("no JSON Schema for validate tag %q", name)
		}
	}
	allowVariables(s)
	return required, nil
}

// nullable lets s be null as well: Parse reads a null field ("key:",
// "~") as absent, which in a profile that extends another resets the
// field, and a null value in a mapping (process.env) as removing the key.
func nullable(s *schema) {
	null := &schema{Type: "null"}
	if len(s.AnyOf) > 0 && s.Type == "" && s.Ref == "" {
		s.AnyOf = append(slices.Clip(s.AnyOf), null)
		return
	}
	core := *s
	core.Description, core.Examples = "", nil
	*s = schema{Description: s.Description, Examples: s.Examples, AnyOf: []*schema{&core, null}}
}

// limit applies a min or max tag to s by its type. A scalar type with its
// own schema (an anyOf) is left alone: for FileMode the limit is on the
// octal value, which a JSON number read from YAML does not show.
func limit(core *schema, tag string, n uint64) {
	switch core.Type {
	case "string":
		if tag == "max" {
			v := int(n)
			core.MaxLength = &v
		}
	case "array":
		if tag == "max" {
			v := int(n)
			core.MaxItems = &v
		}
	case "integer":
		if tag == "min" {
			v := int64(n)
			core.Minimum = &v
		} else {
			core.Maximum = &n
		}
	}
}

// allowVariables lets every scalar under s that is not a plain string be a
// string with a ${...} reference instead.
func allowVariables(s *schema) {
	switch {
	case s == nil:
	case s.Items != nil:
		allowVariables(s.Items)
	case s.Type == "object":
		if v, ok := s.AdditionalProperties.(*schema); ok {
			allowVariables(v)
		}
	case len(s.AnyOf) > 0:
		// Already allows them, or is a scalar type's own choice.
	case s.Type == "string" && s.Pattern == "" && s.Const == "" && s.Enum == nil && s.MaxLength == nil:
	default:
		core := *s
		core.Description = ""
		*s = schema{Description: s.Description, AnyOf: []*schema{&core, {Ref: variableRef}}}
	}
}

// jsonSchema is the schema of a Share.
func (Share) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{New.String(), Host.String()}}
}

// jsonSchema is the schema of a MountType.
func (MountType) jsonSchema() *schema {
	s := &schema{Type: "string"}
	for _, t := range MountTypes {
		s.Enum = append(s.Enum, t.String())
	}
	return s
}

// jsonSchema is the schema of a NetMode.
func (NetMode) jsonSchema() *schema {
	s := &schema{Type: "string"}
	for _, m := range NetModes {
		s.Enum = append(s.Enum, m.String())
	}
	return s
}

// jsonSchema is the schema of a PortMap.
func (PortMap) jsonSchema() *schema {
	return &schema{AnyOf: []*schema{
		{Type: "string", Pattern: `^[0-9]{1,5}(:[0-9]{1,5})?(/(tcp|udp))?$`},
		{Type: "integer", Minimum: ptrTo(int64(1))},
	}}
}

// jsonSchema is the schema of an EgressDefault.
func (EgressDefault) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{EgressAllow.String(), EgressDeny.String()}}
}

func ptrTo[T any](v T) *T { return &v }

// jsonSchema is the schema of a Size: a number of bytes, or digits and a
// unit.
func (Size) jsonSchema() *schema {
	var units []string
	for _, u := range sizeUnits {
		units = append(units, u.suffix)
	}
	zero := int64(0)
	return &schema{AnyOf: []*schema{
		{Type: "integer", Minimum: &zero},
		{Type: "string", Pattern: `^[0-9]+(` + strings.Join(units, "|") + `)?$`},
		{Ref: variableRef},
	}}
}

// jsonSchema is the schema of a FileMode: octal digits, which YAML may
// read as a number.
func (FileMode) jsonSchema() *schema {
	zero, most := int64(0), uint64(7777)
	return &schema{AnyOf: []*schema{
		{Type: "integer", Minimum: &zero, Maximum: &most},
		{Type: "string", Pattern: `^(0[oO])?[0-7]{1,4}$`},
		{Ref: variableRef},
	}}
}

// jsonSchema is the schema of a HostID.
func (HostID) jsonSchema() *schema {
	zero, most := int64(0), uint64(4294967293)
	return &schema{AnyOf: []*schema{
		{Type: "integer", Minimum: &zero, Maximum: &most},
		{Type: "string", Enum: []string{"subuid", "subgid", "pick"}},
		{Ref: variableRef},
	}}
}

// jsonSchema is the schema of a SetGroups policy.
func (SetGroups) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{SetGroupsAllow.String(), SetGroupsDeny.String()}}
}

func (Propagation) jsonSchema() *schema {
	return &schema{Type: "string", Enum: propagationNames[1:]}
}

func (DeviceType) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{"c", "b", "p", "a"}}
}
