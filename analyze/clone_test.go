package analyze

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// fillAll sets every field reachable from v to a random non-zero value:
// pointers, slices (two elements) and maps (two entries) included.
func fillAll(v reflect.Value, r *rand.Rand) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), r)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), r)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(v.Index(i), r)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(k, r)
			fillAll(e, r)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString(string(rune('a' + r.IntN(26))))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1 + r.Int64N(100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1 + r.Uint64N(100))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1 + r.Float64())
	}
}

// shared reports the path of a pointer, slice or map that a and b share.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	}
	return ""
}

// TestFlowClone: a clone of a flow with every field set equals it and
// shares nothing with it, so that a recycled flow's clone survives the
// next flow built in its memory.
func TestFlowClone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var f Flow
		fillAll(reflect.ValueOf(&f).Elem(), r)
		g := f.Clone()
		if !reflect.DeepEqual(&f, g) {
			t.Fatalf("the clone differs:\n%+v\n%+v", f, *g)
		}
		if p := shared(reflect.ValueOf(&f), reflect.ValueOf(g), "Flow"); p != "" {
			t.Fatalf("the clone shares %s", p)
		}
	}
	var empty Flow
	if g := empty.Clone(); !reflect.DeepEqual(&empty, g) {
		t.Errorf("the clone of an empty flow differs: %+v", *g)
	}
}
