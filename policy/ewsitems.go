package policy

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"sync"
)

// DefaultEWSItemsPerDestination is how many item ids EWSItems keeps per EWS
// destination unless told otherwise: about 10 MB, enough for 200 users with
// 500 contacts each; least recently used ids are dropped first.
const DefaultEWSItemsPerDestination = 100_000

// maxEWSResponseToken bounds one token (a text node, a tag) of a response
// the gateway reads for item ids; parsing stops at a larger one (the
// response is still relayed whole, its later ids are not learned).
const maxEWSResponseToken = 8 << 20

// EWSItems is the gateway's memory of the EWS item ids it has relayed: for
// each destination and subject, which allowed folder an id came from. An
// EWS ItemId names an item, not its folder, so without this memory a
// GetItem, UpdateItem or DeleteItem by id could reach any item in the
// mailbox. Ids are learned only from the responses to requests the policy
// allowed (SyncFolderItems and FindItem on an allowed folder, CreateItem
// into one, GetItem/UpdateItem/MoveItem/CopyItem of known ids) and
// forgotten when a DeleteItem or MoveItem succeeds or SyncFolderItems
// reports a deletion.
//
// The memory is per gateway process: it survives a policy reload (a
// folder removed from the policy stops its ids at decision time) but not a
// restart, and replicas do not share it. A replica that has not seen an id
// refuses the request; the client re-learns the folder's ids through that
// replica (FindItem IdOnly, or SyncFolderItems from an empty SyncState) and
// retries. That costs one extra call after a failover, and keeps the check
// free of any shared store the gateway would have to trust.
//
// Each destination keeps at most perDest ids (LRU); the key is a SHA-256
// of subject and id, so an entry costs about 100 bytes whatever the id's
// length. Safe for concurrent use.
type EWSItems struct {
	perDest int

	mu      sync.Mutex
	dests   map[string]*itemLRU
	folders map[string]string // interned folder names
}

type itemKey [16]byte

type itemLRU struct {
	ll list.List // of *itemEntry, most recently used first
	m  map[itemKey]*list.Element
}

type itemEntry struct {
	key    itemKey
	folder string
}

// NewEWSItems returns an empty memory keeping up to perDest ids per
// destination (DefaultEWSItemsPerDestination when perDest <= 0).
func NewEWSItems(perDest int) *EWSItems {
	if perDest <= 0 {
		perDest = DefaultEWSItemsPerDestination
	}
	return &EWSItems{perDest: perDest, dests: map[string]*itemLRU{}, folders: map[string]string{}}
}

// itemKeyOf hashes a subject (ASCII lower case, as impersonation compares
// it) and an item id, length-prefixed so no two pairs share an encoding.
func itemKeyOf(subject, id string) itemKey {
	h := sha256.New()
	var n [8]byte
	s := asciiLower(subject)
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	io.WriteString(h, s)
	io.WriteString(h, id)
	var k itemKey
	copy(k[:], h.Sum(nil))
	return k
}

// Resolve sets req.ItemFolders to the folder each of req.ItemIDs was
// relayed from for this destination and subject; unknown ids are absent.
// Looking an id up counts as a use for the LRU.
func (r *EWSItems) Resolve(dest, subject string, req *EWSRequest) {
	if r == nil || req == nil || len(req.ItemIDs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.dests[dest]
	if l == nil {
		return
	}
	for _, id := range req.ItemIDs {
		if el, ok := l.m[itemKeyOf(subject, id)]; ok {
			if req.ItemFolders == nil {
				req.ItemFolders = make(map[string]string, len(req.ItemIDs))
			}
			req.ItemFolders[id] = el.Value.(*itemEntry).folder
			l.ll.MoveToFront(el)
		}
	}
}

// Len reports how many ids are kept for dest.
func (r *EWSItems) Len(dest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.dests[dest]; l != nil {
		return len(l.m)
	}
	return 0
}

func (r *EWSItems) learn(dest, subject, id, folder string) {
	k := itemKeyOf(subject, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.dests[dest]
	if l == nil {
		l = &itemLRU{m: map[itemKey]*list.Element{}}
		r.dests[dest] = l
	}
	f, ok := r.folders[folder]
	if !ok {
		r.folders[folder] = folder
		f = folder
	}
	if el, ok := l.m[k]; ok {
		el.Value.(*itemEntry).folder = f
		l.ll.MoveToFront(el)
		return
	}
	l.m[k] = l.ll.PushFront(&itemEntry{key: k, folder: f})
	for len(l.m) > r.perDest {
		old := l.ll.Back()
		l.ll.Remove(old)
		delete(l.m, old.Value.(*itemEntry).key)
	}
}

func (r *EWSItems) forget(dest, subject, id string) {
	k := itemKeyOf(subject, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.dests[dest]; l != nil {
		if el, ok := l.m[k]; ok {
			l.ll.Remove(el)
			delete(l.m, k)
		}
	}
}

// ewsFeed is what the response to an allowed request teaches.
type ewsFeed struct {
	op     string
	folder string   // the folder of every item in the response, or
	perMsg []string // the folder of the items in the n-th response message
	forget []string // the n-th target, forgotten when the n-th message succeeds
}

// forgettable is targets with occurrences blanked: removing an occurrence
// leaves its master (and its id) in place.
func forgettable(targets []string) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		if _, occ := ewsTargetItem(t); !occ {
			out[i] = t
		}
	}
	return out
}

func planEWSFeed(req *EWSRequest) (ewsFeed, bool) {
	ref := func(container string) string {
		for _, r := range req.FolderRefs {
			if r.Container == container {
				return r.Folder
			}
		}
		return ""
	}
	f := ewsFeed{op: req.Operation}
	switch req.Operation {
	case "SyncFolderItems":
		f.folder = ref("SyncFolderId")
	case "FindItem":
		f.folder = ref("ParentFolderIds")
	case "CreateItem":
		f.folder = ref("SavedItemFolderId")
	case "GetItem", "UpdateItem":
		for _, t := range req.TargetIDs {
			id, _ := ewsTargetItem(t)
			f.perMsg = append(f.perMsg, req.ItemFolders[id])
		}
	case "MoveItem":
		f.folder, f.forget = ref("ToFolderId"), forgettable(req.TargetIDs)
	case "CopyItem":
		f.folder = ref("ToFolderId")
	case "DeleteItem":
		f.forget = forgettable(req.TargetIDs)
	default:
		return f, false
	}
	return f, f.folder != "" || len(f.perMsg) > 0 || len(f.forget) > 0
}

// Watch returns body wrapped so that the item ids in the response are
// learned (or forgotten) as it is relayed. Call it only for a request
// DecideEWS allowed (not one monitor mode let through), after Resolve.
//
// The response is parsed as it streams (encoding/xml, bounded depth and
// token size), and each Read returns only after the parser has consumed
// the bytes it read: an id is known to the gateway before the bytes that
// complete it reach the client, so the client's next request can use it.
func (r *EWSItems) Watch(dest, subject string, req *EWSRequest, body io.ReadCloser) io.ReadCloser {
	if r == nil || req == nil {
		return body
	}
	feed, ok := planEWSFeed(req)
	if !ok {
		return body
	}
	w := &ewsWatch{
		body: body,
		in:   make(chan []byte),
		ack:  make(chan struct{}, 1),
		stop: make(chan struct{}),
		dead: make(chan struct{}),
	}
	go func() {
		defer close(w.dead)
		fr := &feedReader{w: w}
		r.readResponse(xml.NewDecoder(fr), fr, dest, subject, feed)
	}()
	return w
}

// ewsWatch hands each chunk the relay reads to the parser goroutine and
// waits until the parser has used it up or stopped.
type ewsWatch struct {
	body io.ReadCloser
	in   chan []byte
	ack  chan struct{} // one per chunk, buffered so the parser never blocks on it
	stop chan struct{} // no more chunks
	dead chan struct{} // the parser has returned
	once sync.Once
}

func (w *ewsWatch) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	if n > 0 {
		select {
		case w.in <- p[:n]:
			select {
			case <-w.ack:
			case <-w.dead:
			}
		case <-w.dead:
		}
	}
	if err != nil {
		w.end()
		if errors.Is(err, io.EOF) {
			<-w.dead // the last ids are in before the caller sees the end
		}
	}
	return n, err
}

func (w *ewsWatch) end() { w.once.Do(func() { close(w.stop) }) }

func (w *ewsWatch) Close() error {
	w.end()
	return w.body.Close()
}

var errEWSTokenTooLarge = errors.New("ews: response token too large")

// feedReader is the parser's side: an io.ByteReader, so encoding/xml reads
// byte by byte without a buffer of its own, and asking for a byte past the
// current chunk means every token in it has been handled.
type feedReader struct {
	w    *ewsWatch
	cur  []byte
	held bool // cur is a chunk not yet acknowledged
	tok  int  // bytes since the last token
}

func (f *feedReader) ReadByte() (byte, error) {
	for len(f.cur) == 0 {
		if f.held {
			f.held = false
			f.cur = nil
			f.w.ack <- struct{}{}
		}
		select {
		case c := <-f.w.in:
			f.cur, f.held = c, true
		case <-f.w.stop:
			return 0, io.EOF
		}
	}
	f.tok++
	if f.tok > maxEWSResponseToken {
		return 0, errEWSTokenTooLarge
	}
	b := f.cur[0]
	f.cur = f.cur[1:]
	return b, nil
}

func (f *feedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := f.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// readResponse walks a response envelope and learns or forgets ids:
//
//	soap:Envelope/soap:Body/m:{Op}Response/m:ResponseMessages/m:{Op}ResponseMessage[@ResponseClass="Success"]
//	  SyncFolderItems: m:Changes/t:Create|t:Update/t:{Item}/t:ItemId (learn), m:Changes/t:Delete/t:ItemId (forget)
//	  FindItem:        m:RootFolder/t:Items/t:{Item}/t:ItemId
//	  the others:      m:Items/t:{Item}/t:ItemId
//
// It stops at the first thing it does not expect; what it learned stays.
func (r *EWSItems) readResponse(dec *xml.Decoder, fr *feedReader, dest, subject string, feed ewsFeed) {
	dec.Strict = true
	var (
		stack   []xml.Name
		msg     = -1
		success bool
		env     = xml.Name{Space: NSSOAP, Local: "Envelope"}
		body    = xml.Name{Space: NSSOAP, Local: "Body"}
		resp    = xml.Name{Space: NSEWSMessages, Local: feed.op + "Response"}
		msgs    = xml.Name{Space: NSEWSMessages, Local: "ResponseMessages"}
		one     = xml.Name{Space: NSEWSMessages, Local: feed.op + "ResponseMessage"}
		itemID  = xml.Name{Space: NSEWSTypes, Local: "ItemId"}
	)
	m := func(local string) xml.Name { return xml.Name{Space: NSEWSMessages, Local: local} }
	t := func(local string) xml.Name { return xml.Name{Space: NSEWSTypes, Local: local} }
	for {
		tok, err := dec.Token()
		fr.tok = 0
		if err != nil {
			return
		}
		switch e := tok.(type) {
		case xml.Directive:
			return
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.StartElement:
			d := len(stack)
			if d >= maxEWSDepth || d == 0 && e.Name != env {
				return
			}
			stack = append(stack, e.Name)
			if d < 2 || stack[1] != body {
				continue
			}
			switch {
			case d == 2 && e.Name != resp, d == 3 && e.Name != msgs, d == 4 && e.Name != one:
				return
			case d < 4:
				continue
			case d == 4:
				msg++
				class, _ := attr(e, "ResponseClass")
				success = class == "Success"
				if success && msg < len(feed.forget) && feed.forget[msg] != "" {
					r.forget(dest, subject, feed.forget[msg])
				}
				continue
			}
			if e.Name != itemID || !success {
				continue
			}
			id, ok := attr(e, "Id")
			if !ok || id == "" {
				continue
			}
			folder := feed.folder
			if folder == "" && msg < len(feed.perMsg) {
				folder = feed.perMsg[msg]
			}
			switch {
			case feed.op == "SyncFolderItems":
				switch {
				case d == 8 && stack[5] == m("Changes") && (stack[6] == t("Create") || stack[6] == t("Update")) && stack[7].Space == NSEWSTypes:
					if folder != "" {
						r.learn(dest, subject, id, folder)
					}
				case d == 7 && stack[5] == m("Changes") && stack[6] == t("Delete"):
					r.forget(dest, subject, id)
				}
			case feed.op == "FindItem":
				if d == 8 && stack[5] == m("RootFolder") && stack[6] == t("Items") && stack[7].Space == NSEWSTypes && folder != "" {
					r.learn(dest, subject, id, folder)
				}
			default:
				if d == 7 && stack[5] == m("Items") && stack[6].Space == NSEWSTypes && folder != "" {
					r.learn(dest, subject, id, folder)
				}
			}
		}
	}
}
