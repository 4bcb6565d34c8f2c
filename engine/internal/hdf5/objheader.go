package hdf5

import (
	"fmt"
)

// Object header message types used by this package.
const (
	msgNIL          = 0x00
	msgDataspace    = 0x01
	msgLinkInfo     = 0x02
	msgDatatype     = 0x03
	msgFillOld      = 0x04
	msgFill         = 0x05
	msgLink         = 0x06
	msgExternal     = 0x07
	msgLayout       = 0x08
	msgGroupInfo    = 0x0A
	msgFilters      = 0x0B
	msgAttribute    = 0x0C
	msgContinuation = 0x10
	msgSymbolTable  = 0x11
	msgAttrInfo     = 0x15
)

// Message flag bits.
const (
	msgFlagShared       = 0x02
	msgFlagFailUnknown  = 0x80 // "fail if unknown and opened for any access"
	hdrFlagAttrCrtOrder = 0x04 // v2 header: attribute creation order tracked
	hdrFlagTimes        = 0x20
	hdrFlagPhaseChange  = 0x10
)

// message is one object header message; data aliases the file.
type message struct {
	typ    uint16
	flags  uint8
	corder uint16 // creation order (v2 headers that track it)
	data   []byte
}

// objectHeader is a decoded object header: all messages from every chunk.
type objectHeader struct {
	addr           uint64
	version        int
	attrOrderTrack bool // v2: attribute creation order tracked
	msgs           []message
}

// find returns the first message of type typ, or nil.
func (h *objectHeader) find(typ uint16) *message {
	for i := range h.msgs {
		if h.msgs[i].typ == typ {
			return &h.msgs[i]
		}
	}
	return nil
}

// has reports whether a message of type typ is present.
func (h *objectHeader) has(typ uint16) bool { return h.find(typ) != nil }

// header returns the decoded object header at addr, caching it.
func (f *File) header(addr uint64) (*objectHeader, error) {
	f.mu.Lock()
	h, ok := f.headers[addr]
	f.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := f.readHeader(addr)
	if err != nil {
		return nil, fmt.Errorf("object header at %#x: %w", addr, err)
	}
	f.mu.Lock()
	f.headers[addr] = h
	f.mu.Unlock()
	return h, nil
}

// chunkRef is an object header chunk still to decode.
type chunkRef struct{ addr, size uint64 }

func (f *File) readHeader(addr uint64) (*objectHeader, error) {
	b, err := f.tail(addr)
	if err != nil {
		return nil, err
	}
	h := &objectHeader{addr: addr}
	var pending []chunkRef
	seen := map[uint64]bool{addr: true}
	if len(b) >= 4 && string(b[:4]) == "OHDR" {
		h.version = 2
		if pending, err = f.readHeaderV2(h, b); err != nil {
			return nil, err
		}
	} else {
		h.version = 1
		if pending, err = f.readHeaderV1(h, b); err != nil {
			return nil, err
		}
	}
	// Follow continuation blocks, breadth first, refusing revisits.
	for n := 0; len(pending) > 0; n++ {
		if n >= f.opts.MaxHeaderMessages {
			return nil, fmt.Errorf("more than %d continuation blocks", f.opts.MaxHeaderMessages)
		}
		c := pending[0]
		pending = pending[1:]
		if seen[c.addr] {
			return nil, fmt.Errorf("continuation block %#x: cycle", c.addr)
		}
		seen[c.addr] = true
		cb, err := f.slice(c.addr, c.size)
		if err != nil {
			return nil, fmt.Errorf("continuation block: %w", err)
		}
		var more []chunkRef
		if h.version == 1 {
			more, err = f.parseMessagesV1(h, cb)
		} else {
			if len(cb) < 8 || string(cb[:4]) != "OCHK" {
				return nil, fmt.Errorf("continuation block %#x: bad signature", c.addr)
			}
			if err := verifyChecksum(cb, "continuation block"); err != nil {
				return nil, err
			}
			more, err = f.parseMessagesV2(h, cb[4:len(cb)-4])
		}
		if err != nil {
			return nil, fmt.Errorf("continuation block %#x: %w", c.addr, err)
		}
		pending = append(pending, more...)
	}
	return h, nil
}

func (f *File) readHeaderV1(h *objectHeader, b []byte) ([]chunkRef, error) {
	r := f.newReader(b)
	if v := r.u8(); v != 1 {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("object header version %d: %w", v, ErrUnsupported)
	}
	r.skip(1) // reserved
	r.u16()   // number of messages (we trust the chunks instead)
	r.u32()   // reference count
	size := r.u32()
	r.skip(4) // alignment padding: messages start 8-byte aligned
	if r.err != nil {
		return nil, r.err
	}
	chunk := r.bytes(int(min(uint64(size), uint64(r.remaining()+1))))
	if r.err != nil {
		return nil, fmt.Errorf("header chunk of %d bytes: %w", size, r.err)
	}
	return f.parseMessagesV1(h, chunk)
}

// addMessage appends m, enforcing the message limit and interpreting
// continuation messages.
func (f *File) addMessage(h *objectHeader, m message, conts *[]chunkRef) error {
	if len(h.msgs) >= f.opts.MaxHeaderMessages {
		return fmt.Errorf("more than %d header messages", f.opts.MaxHeaderMessages)
	}
	if m.typ == msgContinuation {
		r := f.newReader(m.data)
		a, n := r.addr(), r.length()
		if r.err != nil {
			return fmt.Errorf("continuation message: %w", r.err)
		}
		*conts = append(*conts, chunkRef{a, n})
		return nil
	}
	if m.flags&msgFlagFailUnknown != 0 && !knownMessage(m.typ) {
		return fmt.Errorf("message type %#x marked must-understand: %w", m.typ, ErrUnsupported)
	}
	h.msgs = append(h.msgs, m)
	return nil
}

func knownMessage(t uint16) bool {
	switch t {
	case msgNIL, msgDataspace, msgLinkInfo, msgDatatype, msgFillOld, msgFill, msgLink,
		msgExternal, msgLayout, msgGroupInfo, msgFilters, msgAttribute, msgContinuation,
		msgSymbolTable, msgAttrInfo:
		return true
	}
	return false
}

// parseMessagesV1 decodes the messages of one version-1 header chunk.
func (f *File) parseMessagesV1(h *objectHeader, b []byte) ([]chunkRef, error) {
	if err := f.spend(uint64(len(b))); err != nil {
		return nil, err
	}
	var conts []chunkRef
	r := f.newReader(b)
	for r.remaining() >= 8 {
		typ := r.u16()
		size := r.u16()
		flags := r.u8()
		r.skip(3)
		data := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("message type %#x of %d bytes: %w", typ, size, r.err)
		}
		if typ == msgNIL {
			continue
		}
		if err := f.addMessage(h, message{typ: typ, flags: flags, data: data}, &conts); err != nil {
			return nil, err
		}
	}
	return conts, nil
}

func (f *File) readHeaderV2(h *objectHeader, b []byte) ([]chunkRef, error) {
	r := f.newReader(b)
	r.skip(4) // "OHDR"
	if v := r.u8(); v != 2 {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("object header version %d: %w", v, ErrUnsupported)
	}
	flags := r.u8()
	if flags&hdrFlagTimes != 0 {
		r.skip(16)
	}
	if flags&hdrFlagPhaseChange != 0 {
		r.skip(4)
	}
	size := r.uint(1 << (flags & 3))
	if r.err != nil {
		return nil, r.err
	}
	if size > uint64(r.remaining()) {
		return nil, fmt.Errorf("header chunk of %d bytes: %w", size, errShort)
	}
	start := r.off
	end := start + int(size)
	if end+4 > len(b) {
		return nil, fmt.Errorf("header chunk checksum: %w", errShort)
	}
	if err := verifyPrefix(b, end, "object header"); err != nil {
		return nil, err
	}
	h.attrOrderTrack = flags&hdrFlagAttrCrtOrder != 0
	return f.parseMessagesV2(h, b[start:end])
}

// parseMessagesV2 decodes the messages of one version-2 header chunk
// (without its signature and checksum).
func (f *File) parseMessagesV2(h *objectHeader, b []byte) ([]chunkRef, error) {
	if err := f.spend(uint64(len(b))); err != nil {
		return nil, err
	}
	var conts []chunkRef
	hdrSize := 4
	if h.attrOrderTrack {
		hdrSize = 6
	}
	r := f.newReader(b)
	for r.remaining() >= hdrSize {
		typ := uint16(r.u8())
		size := r.u16()
		flags := r.u8()
		var corder uint16
		if h.attrOrderTrack {
			corder = r.u16()
		}
		data := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("message type %#x of %d bytes: %w", typ, size, r.err)
		}
		if typ == msgNIL {
			continue
		}
		if err := f.addMessage(h, message{typ: typ, flags: flags, corder: corder, data: data}, &conts); err != nil {
			return nil, err
		}
	}
	return conts, nil
}
