package flows

// The table threads its slots on intrusive doubly linked lists, one link
// pair per list, so that moving a slot costs a few pointer writes and no
// allocation.

const (
	lruList = iota
	doneList
	hsList
	tombList
)

type link struct{ prev, next *slot }

type list struct {
	head, tail *slot
	n          int
	id         int
}

func (l *list) init(id int) { l.id = id }

func (l *list) pushBack(s *slot) {
	k := &s.links[l.id]
	k.prev, k.next = l.tail, nil
	if l.tail != nil {
		l.tail.links[l.id].next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

func (l *list) remove(s *slot) {
	k := &s.links[l.id]
	if k.prev != nil {
		k.prev.links[l.id].next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		k.next.links[l.id].prev = k.prev
	} else {
		l.tail = k.prev
	}
	k.prev, k.next = nil, nil
	l.n--
}

func (l *list) moveToBack(s *slot) {
	if l.tail == s {
		return
	}
	l.remove(s)
	l.pushBack(s)
}

// place keeps s at the back of l when want is set and off it otherwise;
// *in records whether s is on l.
func (l *list) place(s *slot, want bool, in *bool) {
	switch {
	case want && *in:
		l.moveToBack(s)
	case want:
		l.pushBack(s)
		*in = true
	case *in:
		l.remove(s)
		*in = false
	}
}
