package vault

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// KV version 2, as served by Vault's kv-v2 engine: data, metadata, delete,
// undelete, destroy; check-and-set; deleted versions answer 404 with their
// metadata.
// https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2

type kvVersion struct {
	data      map[string]any
	created   time.Time
	deleted   time.Time
	destroyed bool
}

type kvSecret struct {
	versions map[int]*kvVersion
	current  int
	created  time.Time
	updated  time.Time
}

func (e *Emulator) kvRoute(store map[string]*kvSecret, req *request, rest string) (int, map[string]any, *apiError) {
	method, body, r := req.method, req.body, req.r
	op, p, _ := strings.Cut(rest, "/")
	now := e.clk.Now()
	switch op {
	case "data":
		s := store[p]
		switch method {
		case http.MethodGet:
			if s == nil {
				return 0, nil, errNotFound
			}
			v := s.current
			if q := r.URL.Query().Get("version"); q != "" && q != "0" {
				n, err := strconv.Atoi(q)
				if err != nil {
					return 0, nil, errf(400, "invalid version")
				}
				v = n
			}
			ver := s.versions[v]
			if ver == nil {
				return 0, nil, errNotFound
			}
			meta := versionMeta(v, ver)
			if ver.destroyed || !ver.deleted.IsZero() {
				// Vault answers 404 with the metadata and null data.
				return 404, map[string]any{"data": map[string]any{"data": nil, "metadata": meta}}, nil
			}
			return 200, map[string]any{"data": map[string]any{"data": ver.data, "metadata": meta}}, nil
		case http.MethodPost, http.MethodPut:
			data, ok := body["data"].(map[string]any)
			if !ok {
				return 0, nil, errf(400, "no data provided")
			}
			cur := 0
			if s != nil {
				cur = s.current
			}
			if opts, ok := body["options"].(map[string]any); ok {
				if c, ok := opts["cas"]; ok {
					n, ok := c.(float64)
					if !ok || int(n) != cur {
						return 0, nil, errf(400, "check-and-set parameter did not match the current version")
					}
				}
			}
			if s == nil {
				s = &kvSecret{versions: map[int]*kvVersion{}, created: now}
				store[p] = s
			}
			s.current++
			s.updated = now
			s.versions[s.current] = &kvVersion{data: data, created: now}
			delete(s.versions, s.current-10)
			return 200, map[string]any{"data": versionMeta(s.current, s.versions[s.current])}, nil
		case http.MethodDelete:
			if s != nil && s.versions[s.current] != nil {
				s.versions[s.current].deleted = now
			}
			return 204, nil, nil
		}
	case "delete", "undelete", "destroy":
		s := store[p]
		if method != http.MethodPost && method != http.MethodPut {
			break
		}
		vs, _ := body["versions"].([]any)
		if len(vs) == 0 {
			return 0, nil, errf(400, "no version number provided")
		}
		for _, x := range vs {
			n, _ := x.(float64)
			if s == nil || s.versions[int(n)] == nil {
				continue
			}
			switch op {
			case "delete":
				s.versions[int(n)].deleted = now
			case "undelete":
				s.versions[int(n)].deleted = time.Time{}
			case "destroy":
				s.versions[int(n)].destroyed = true
				s.versions[int(n)].data = nil
			}
		}
		return 204, nil, nil
	case "metadata":
		switch method {
		case "LIST":
			prefix := p
			if prefix != "" && !strings.HasSuffix(prefix, "/") {
				prefix += "/"
			}
			seen := map[string]bool{}
			for k := range store {
				if !strings.HasPrefix(k, prefix) {
					continue
				}
				rest := strings.TrimPrefix(k, prefix)
				if i := strings.Index(rest, "/"); i >= 0 {
					rest = rest[:i+1]
				}
				seen[rest] = true
			}
			if len(seen) == 0 {
				return 0, nil, errNotFound
			}
			keys := make([]string, 0, len(seen))
			for k := range seen {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return 200, map[string]any{"data": map[string]any{"keys": keys}}, nil
		case http.MethodGet:
			s := store[p]
			if s == nil {
				return 0, nil, errNotFound
			}
			versions := map[string]any{}
			oldest := s.current
			for n, v := range s.versions {
				versions[strconv.Itoa(n)] = map[string]any{"created_time": v.created.UTC().Format(time.RFC3339Nano), "deletion_time": fmtTime(v.deleted), "destroyed": v.destroyed}
				if n < oldest {
					oldest = n
				}
			}
			return 200, map[string]any{"data": map[string]any{
				"cas_required": false, "created_time": s.created.UTC().Format(time.RFC3339Nano), "current_version": s.current,
				"custom_metadata": nil, "delete_version_after": "0s", "max_versions": 0, "oldest_version": oldest,
				"updated_time": s.updated.UTC().Format(time.RFC3339Nano), "versions": versions,
			}}, nil
		case http.MethodDelete:
			delete(store, p)
			return 204, nil, nil
		}
	}
	return 0, nil, errf(405, "unsupported operation")
}

func versionMeta(n int, v *kvVersion) map[string]any {
	return map[string]any{"created_time": v.created.UTC().Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": fmtTime(v.deleted), "destroyed": v.destroyed, "version": n}
}
