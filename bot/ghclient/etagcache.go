package ghclient

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// etagCache is a RoundTripper that makes every GET a conditional request:
// it remembers the ETag and body of each answer, sends If-None-Match, and
// on 304 Not Modified serves the remembered body. GitHub does not count such
// 304s against the primary rate limit.
//
// It is hand-written because no library does exactly this.
// gregjones/httpcache is unmaintained. RFC 9111 caches (bartventer/httpcache,
// sandrolain/httpcache) honour GitHub's "Cache-Control: private, max-age=60"
// and answer from the cache for a minute without asking GitHub, and refbot
// must never act on a stale pull request head or permission.
// bored-engineer/github-conditional-http-transport recomputes GitHub's ETags
// with an undocumented formula. This cache always revalidates, so what it
// serves is what GitHub has just confirmed.
//
// Entries are keyed by the client's identity (not by the token, which
// rotates hourly for an App), the Accept header and the URL, and bounded by
// count and total size, least recently used first out.
type etagCache struct {
	next       http.RoundTripper
	identity   string
	maxEntries int
	maxBytes   int64
	maxBody    int64
	hit        func()

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent at the front
	items map[string]*list.Element
	bytes int64
}

type cacheEntry struct {
	key    string
	etag   string
	header http.Header
	body   []byte
}

func newETagCache(next http.RoundTripper, identity string, maxEntries int, maxBytes int64, hit func()) *etagCache {
	return &etagCache{
		next:       next,
		identity:   identity,
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		maxBody:    min(maxBytes/4, 4<<20),
		hit:        hit,
		lru:        list.New(),
		items:      map[string]*list.Element{},
	}
}

func (c *etagCache) RoundTrip(req *http.Request) (*http.Response, error) {
	// A caller's own conditional or range request passes through.
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" || req.Header.Get("Range") != "" {
		return c.next.RoundTrip(req)
	}
	key := c.identity + "\x00" + req.Header.Get("Accept") + "\x00" + req.URL.String()
	entry := c.get(key)
	out := req
	if entry != nil {
		out = req.Clone(req.Context())
		out.Header.Set("If-None-Match", entry.etag)
	}
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && entry != nil:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		c.hit()
		header := entry.header.Clone()
		// Fresh headers (rate limit, date) override the remembered ones.
		for k, v := range resp.Header {
			header[k] = v
		}
		header.Set("Content-Length", strconv.Itoa(len(entry.body)))
		return &http.Response{
			Status:        "200 OK",
			StatusCode:    http.StatusOK,
			Proto:         resp.Proto,
			ProtoMajor:    resp.ProtoMajor,
			ProtoMinor:    resp.ProtoMinor,
			Header:        header,
			Body:          io.NopCloser(bytes.NewReader(entry.body)),
			ContentLength: int64(len(entry.body)),
			Request:       req,
		}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
		if err != nil {
			resp.Body.Close()
			return nil, err
		}
		if int64(len(body)) > c.maxBody {
			// Too large to keep: hand on what was read and the rest.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			c.remove(key)
			return resp, nil
		}
		resp.Body.Close()
		c.put(&cacheEntry{key: key, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	case resp.StatusCode == http.StatusOK:
		c.remove(key)
	}
	return resp, nil
}

func (c *etagCache) get(key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (c *etagCache) put(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		c.drop(el)
	}
	c.items[e.key] = c.lru.PushFront(e)
	c.bytes += int64(len(e.body))
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.drop(c.lru.Back())
	}
}

func (c *etagCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.drop(el)
	}
}

// drop removes an element; the caller holds c.mu.
func (c *etagCache) drop(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.items, e.key)
	c.bytes -= int64(len(e.body))
}

// len is the number of entries, for tests.
func (c *etagCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
