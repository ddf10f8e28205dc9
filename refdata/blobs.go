package refdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// ErrTooLarge: the blobs asked for add up to more than the caller allows.
var ErrTooLarge = errors.New("larger than allowed")

// Blobs reads the contents of the given blobs from the data repo, those of
// at most maxObject bytes; larger ones are left out of the result. The
// local cache holds no blobs (it is fetched with filter blob:none), so they
// are asked for by id in one protocol-v2 fetch, the request a partial clone
// makes for a missing blob; GitHub and git http-backend both serve it.
// Reading stops with ErrTooLarge once the pack passes maxPack bytes.
// Replies use it for the text diffs of small files.
func (r *Repo) Blobs(ctx context.Context, ids []plumbing.Hash, maxObject, maxPack int64) (map[plumbing.Hash][]byte, error) {
	out := make(map[plumbing.Hash][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var req bytes.Buffer
	enc := pktline.NewEncoder(&req)
	if err := enc.EncodeString("command=fetch\n"); err != nil {
		return nil, err
	}
	req.WriteString("0001") // delimiter: the arguments follow
	lines := []string{"no-progress\n"}
	seen := map[plumbing.Hash]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			lines = append(lines, "want "+id.String()+"\n")
		}
	}
	lines = append(lines, "done\n")
	if err := enc.EncodeString(lines...); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}

	cred, err := r.credential(ctx)
	if err != nil {
		return nil, err
	}
	hreq, err := r.rpcRequest(ctx, cred, "git-upload-pack", &req)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Git-Protocol", "version=2")
	resp, err := r.httpc.Do(hreq)
	if err != nil {
		return nil, cred.redact(fmt.Errorf("read blobs from data repo: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, cred.redact(fmt.Errorf("read blobs from data repo: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body))))
	}
	limited := &limitReader{r: resp.Body, left: maxPack}
	// The answer is a list of sections; with "done" sent, the pack's comes
	// without acknowledgments. Its lines are side-band multiplexed.
	sc := pktline.NewScanner(limited)
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, cred.redact(fmt.Errorf("read blobs from data repo: %w", err))
			}
			return nil, errors.New("read blobs from data repo: the answer has no pack")
		}
		line := string(sc.Bytes())
		if line == "packfile\n" {
			break
		}
		if msg, ok := strings.CutPrefix(line, "ERR "); ok {
			return nil, fmt.Errorf("read blobs from data repo: the server refused: %s", strings.TrimSpace(msg))
		}
	}
	var pack bytes.Buffer
	if _, err := io.Copy(&pack, sideband.NewDemuxer(sideband.Sideband64k, limited)); err != nil {
		if limited.over {
			return nil, fmt.Errorf("read blobs from data repo: %w (a pack over %d bytes)", ErrTooLarge, maxPack)
		}
		return nil, cred.redact(fmt.Errorf("read blobs from data repo: %w", err))
	}
	blobs, err := readBlobs(&pack, maxObject)
	if err != nil {
		return nil, fmt.Errorf("read blobs from data repo: %w", err)
	}
	for id := range seen {
		if b, ok := blobs[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

// maxInflated bounds the memory readBlobs holds: the objects of a pack,
// inflated. A small compressed pack can expand a thousandfold.
const maxInflated = 64 << 20

// readBlobs reads the blobs of a pack, resolving deltas against objects of
// the same pack, and returns those of at most maxObject bytes. Objects are
// held, whatever their size, only while their total stays under
// maxInflated (a small file may be sent as a delta of a larger one); past
// that, an object, or a delta whose result would be larger, is dropped
// without being held whole.
func readBlobs(pack io.Reader, maxObject int64) (map[plumbing.Hash][]byte, error) {
	type object struct {
		typ  plumbing.ObjectType
		data []byte
	}
	sc := packfile.NewScanner(pack)
	_, count, err := sc.Header()
	if err != nil {
		return nil, err
	}
	byOffset := map[int64]*object{} // nil: dropped, or its base was
	byHash := map[plumbing.Hash]*object{}
	budget := int64(maxInflated)
	for range count {
		h, err := sc.NextObjectHeader()
		if err != nil {
			return nil, err
		}
		buf := &cappedBuffer{max: budget}
		if _, _, err := sc.NextObject(buf); err != nil {
			return nil, err
		}
		var o *object
		switch h.Type {
		case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
			base := byOffset[h.OffsetReference]
			if h.Type == plumbing.REFDeltaObject {
				base = byHash[h.Reference]
			}
			if base != nil && !buf.over && deltaTargetSize(buf.b) <= budget {
				data, err := packfile.PatchDelta(base.data, buf.b)
				if err != nil {
					return nil, err
				}
				o = &object{typ: base.typ, data: data}
			}
		default:
			if !buf.over {
				o = &object{typ: h.Type, data: buf.b}
			}
		}
		byOffset[h.Offset] = o
		if o != nil {
			byHash[plumbing.ComputeHash(o.typ, o.data)] = o
			budget -= int64(len(o.data))
		}
	}
	out := map[plumbing.Hash][]byte{}
	for id, o := range byHash {
		if o.typ == plumbing.BlobObject && int64(len(o.data)) <= maxObject {
			out[id] = o.data
		}
	}
	return out, nil
}

// cappedBuffer keeps the first max bytes written to it and notes that
// there were more.
type cappedBuffer struct {
	b    []byte
	max  int64
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - int64(len(c.b)); int64(len(p)) > room {
		c.b = append(c.b, p[:max(room, 0)]...)
		c.over = true
	} else {
		c.b = append(c.b, p...)
	}
	return len(p), nil
}

// deltaTargetSize reads the size of a delta's result from its header (two
// little-endian base-128 numbers: the base's size, then the result's).
func deltaTargetSize(delta []byte) int64 {
	var sizes [2]int64
	for i := range sizes {
		var shift uint
		for {
			if len(delta) == 0 || shift > 56 {
				return math.MaxInt64
			}
			c := delta[0]
			delta = delta[1:]
			sizes[i] |= int64(c&0x7f) << shift
			shift += 7
			if c&0x80 == 0 {
				break
			}
		}
	}
	return sizes[1]
}

// limitReader fails once more than left bytes are read, and says so.
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		l.over = true
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
