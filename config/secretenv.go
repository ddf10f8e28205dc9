package config

import (
	"reflect"
	"slices"
)

// SecretVariables are the environment variables the configuration's
// secrets are read from ({env: NAME}), sorted: refbot keeps them from the
// programs it runs (website.stop_command), which have no use for its
// credentials.
func (c *Config) SecretVariables() []string {
	var names []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch s := v.Interface().(type) {
		case Secret:
			if s.Env != "" {
				names = append(names, s.Env)
			}
			return
		case Secrets:
			for _, e := range s {
				walk(reflect.ValueOf(e))
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Value())
			}
		}
	}
	walk(reflect.ValueOf(c))
	slices.Sort(names)
	return slices.Compact(names)
}
