package google

// People has no client-chosen resource names and no server-side filter on
// clientData, so the contact carrying a key is found by listing. To keep a
// Create from listing every time, the connector remembers per user which
// contact carries which key, from the last complete listing (Changes
// without a cursor, FindByKey, or the scan a first Create makes), kept up
// to date by incremental listings and by its own writes. The index is a
// hint for Create only: a hit is checked with people.get, and FindByKey
// always lists (another process may have written since).
type keyIndex struct {
	warm  bool              // built from a complete listing
	byKey map[string]string // key -> resourceName
}

// maxIndexedUsers bounds the memory of the indexes; past it the least
// useful thing to keep is any one of them, so one is dropped (it is rebuilt
// by the next listing).
const maxIndexedUsers = 10000

func (c *Connector) indexReplace(user string, byKey map[string]string) {
	tag := userTag(user)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.keys[tag]; !ok && len(c.keys) >= maxIndexedUsers {
		for k := range c.keys {
			delete(c.keys, k)
			break
		}
	}
	c.keys[tag] = &keyIndex{warm: true, byKey: byKey}
}

// indexLookup returns the resource name indexed for key and whether the
// index is complete.
func (c *Connector) indexLookup(user, key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix := c.keys[userTag(user)]
	if ix == nil {
		return "", false
	}
	return ix.byKey[key], ix.warm
}

// indexUpdate records that resourceName now carries key ("" = none or
// deleted). It does nothing for a user without an index.
func (c *Connector) indexUpdate(user, resourceName, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix := c.keys[userTag(user)]
	if ix == nil {
		return
	}
	for k, rn := range ix.byKey {
		if rn == resourceName && k != key {
			delete(ix.byKey, k)
		}
	}
	if key != "" {
		ix.byKey[key] = resourceName
	}
}
