package analyze

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of f: nothing it points to is f's. A flow
// given to Options.Emit with Options.Recycle is rebuilt in place once
// Emit returns; what Emit keeps of it must be a clone.
func (f *Flow) Clone() *Flow {
	g := *f
	if f.Close.HalfClose != nil {
		h := *f.Close.HalfClose
		g.Close.HalfClose = &h
	}
	if f.Close.Reset != nil {
		r := *f.Close.Reset
		g.Close.Reset = &r
	}
	g.Sides = Sides{Client: f.Sides.Client.clone(), Server: f.Sides.Server.clone()}
	if f.Reuse != nil {
		r := *f.Reuse
		g.Reuse = &r
	}
	g.RTT = f.RTT.clone()
	if f.NAT != nil {
		n := *f.NAT
		g.NAT = &n
	}
	if f.Untranslated != nil {
		l := *f.Untranslated
		g.Untranslated = &l
	}
	if f.Diagnoses != nil {
		g.Diagnoses = make([]Diagnosis, len(f.Diagnoses))
		for i := range f.Diagnoses {
			g.Diagnoses[i] = f.Diagnoses[i].Clone()
		}
	}
	if f.Wire != nil {
		w := *f.Wire
		w.Bounds = cloneBounds(w.Bounds)
		g.Wire = &w
	}
	g.ICMP = slices.Clone(f.ICMP)
	g.Events = slices.Clone(f.Events)
	return &g
}

func (s *Side) clone() *Side {
	if s == nil {
		return nil
	}
	c := *s
	c.States = slices.Clone(s.States)
	c.FinFrames = slices.Clone(s.FinFrames)
	c.Durations = maps.Clone(s.Durations)
	if s.Stack != nil {
		st := *s.Stack
		c.Stack = &st
	}
	return &c
}

// Clone returns a deep copy of d.
func (d Diagnosis) Clone() Diagnosis {
	d.Frames = slices.Clone(d.Frames)
	d.Bounds = cloneBounds(d.Bounds)
	d.Checks = slices.Clone(d.Checks)
	d.Doubts = slices.Clone(d.Doubts)
	return d
}

func cloneBounds(bs []Bound) []Bound {
	if bs == nil {
		return nil
	}
	out := make([]Bound, len(bs))
	for i, b := range bs {
		out[i] = b.Clone()
	}
	return out
}

// Clone returns a deep copy of b.
func (b Bound) Clone() Bound {
	b.Above, b.Below = clonePtr(b.Above), clonePtr(b.Below)
	return b
}
