package refdata

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// refUpdate is one command of a push: set Name from Old to New. Old is the
// lease: the server applies the update only if Name is still Old (zero: the
// ref must not exist). A zero New deletes the ref.
type refUpdate struct {
	Name plumbing.ReferenceName
	Old  plumbing.Hash
	New  plumbing.Hash
}

// pushStats say what a push sent.
type pushStats struct {
	Objects int
	Bytes   int64 // pack bytes on the wire
}

// push sends objects (which the remote lacks) and applies updates in one
// receive-pack request, atomically when the server allows. It streams the
// pack: memory use does not grow with the size of the data. A ref that
// moved is a *LeaseError; any other refusal in the server's report wraps
// ErrRejected.
func (r *Repo) push(ctx context.Context, updates []refUpdate, n *newObjects, objects []plumbing.Hash, progress func(int64)) (pushStats, error) {
	var st pushStats
	// One token for the whole exchange: the advertisement and the pack.
	cred, err := r.credential(ctx)
	if err != nil {
		return st, err
	}
	sess, err := r.client.NewReceivePackSession(r.ep, cred.auth())
	if err != nil {
		return st, cred.redact(fmt.Errorf("connect to data repo: %w", err))
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	sess.Close()
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return st, cred.redact(fmt.Errorf("push to data repo: %w", err))
	}
	// Cheap early check; the server checks again while it holds the lock.
	if ar == nil {
		ar = packp.NewAdvRefs()
	}
	remote := advertisedTips(ar)
	for _, u := range updates {
		if remote[u.Name] != u.Old {
			return st, &LeaseError{Ref: u.Name.Short(), Expected: u.Old, Actual: remote[u.Name]}
		}
	}

	req := packp.NewReferenceUpdateRequest()
	for _, u := range updates {
		req.Commands = append(req.Commands, &packp.Command{Name: u.Name, Old: u.Old, New: u.New})
	}
	caps := ar.Capabilities
	req.Capabilities.Set(capability.ReportStatus)
	if len(updates) > 1 && caps.Supports(capability.Atomic) {
		req.Capabilities.Set(capability.Atomic)
	}
	if caps.Supports(capability.Sideband64k) {
		req.Capabilities.Set(capability.Sideband64k)
	}
	if caps.Supports(capability.Agent) {
		req.Capabilities.Set(capability.Agent, "refbot")
	}
	allDelete := true
	for _, u := range updates {
		if !u.New.IsZero() {
			allDelete = false
		}
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := req.Encode(pw)
		if err == nil && !allDelete {
			var n64 int64
			n64, err = writePack(pw, n, objects, r.store, progress)
			st.Bytes = n64
		}
		pw.CloseWithError(err)
		written <- err
	}()
	st.Objects = len(objects)

	hreq, err := r.rpcRequest(ctx, cred, "git-receive-pack", pr)
	if err != nil {
		pr.CloseWithError(err)
		<-written
		return st, err
	}
	resp, err := r.httpc.Do(hreq)
	if err != nil {
		pr.CloseWithError(err)
		<-written
		return st, cred.redact(fmt.Errorf("push to data repo: %w", err))
	}
	defer resp.Body.Close()
	// The server's answer first: a 401 or 413 explains why the pack could
	// not be sent, which the writer only sees as a closed pipe.
	if resp.StatusCode != http.StatusOK {
		pr.CloseWithError(errors.New("the server answered before the pack was sent"))
		<-written
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return st, cred.redact(fmt.Errorf("push to data repo: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body))))
	}
	if werr := <-written; werr != nil {
		return st, cred.redact(fmt.Errorf("push to data repo: send pack: %w", werr))
	}
	var body io.Reader = resp.Body
	if req.Capabilities.Supports(capability.Sideband64k) {
		body = sideband.NewDemuxer(sideband.Sideband64k, resp.Body)
	}
	report := packp.NewReportStatus()
	if err := report.Decode(bufio.NewReader(body)); err != nil {
		return st, cred.redact(fmt.Errorf("push to data repo: read report: %w", err))
	}
	if report.UnpackStatus != "ok" {
		return st, cred.redact(fmt.Errorf("push to data repo: %w: unpack: %s", ErrRejected, report.UnpackStatus))
	}
	var failed []string
	for _, cs := range report.CommandStatuses {
		if cs.Status != "ok" {
			failed = append(failed, cs.ReferenceName.Short()+": "+cs.Status)
		}
	}
	if len(failed) > 0 {
		// Was it the lease? Look at where the refs are now.
		if now, err := r.RemoteTips(ctx); err == nil {
			for _, u := range updates {
				if now[u.Name] != u.Old && now[u.Name] != u.New {
					return st, &LeaseError{Ref: u.Name.Short(), Expected: u.Old, Actual: now[u.Name]}
				}
			}
		}
		return st, cred.redact(fmt.Errorf("push to data repo: %w: %s", ErrRejected, strings.Join(failed, "; ")))
	}
	return st, nil
}

// rpcRequest is a smart-HTTP request to service (git-upload-pack or
// git-receive-pack) with body, cred's token sent as Basic auth only.
func (r *Repo) rpcRequest(ctx context.Context, cred credential, service string, body io.Reader) (*http.Request, error) {
	url := strings.TrimSuffix(r.ep.String(), "/") + "/" + service
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, cred.redact(err)
	}
	hreq.Header.Set("Content-Type", "application/x-"+service+"-request")
	hreq.Header.Set("Accept", "application/x-"+service+"-result")
	hreq.Header.Set("User-Agent", "refbot")
	cred.auth().SetAuth(hreq)
	return hreq, nil
}

// writePack writes a version 2 pack of the given objects to w and returns
// its size. Objects are stored whole (no delta search: reference data is
// mostly new content, and finding deltas costs more than it saves).
// Content that is already compressed (PNG, JPEG, gzip, zip …) is stored
// without zlib effort; the rest is compressed at the fastest level.
func writePack(w io.Writer, n *newObjects, objects []plumbing.Hash, store interface {
	EncodedObject(plumbing.ObjectType, plumbing.Hash) (plumbing.EncodedObject, error)
}, progress func(int64)) (int64, error) {
	sum := sha1.New()
	cw := &countWriter{w: io.MultiWriter(w, sum), progress: progress}
	bw := bufio.NewWriterSize(cw, 256<<10)
	var hdr [12]byte
	copy(hdr[:4], "PACK")
	binary.BigEndian.PutUint32(hdr[4:8], 2)
	binary.BigEndian.PutUint32(hdr[8:12], uint32(len(objects)))
	bw.Write(hdr[:])
	zw := map[int]*zlib.Writer{}
	buf := make([]byte, 256<<10)
	for _, h := range objects {
		var (
			typ  plumbing.ObjectType
			size int64
			src  io.Reader
			head []byte
			file *os.File
		)
		if obj, ok := n.encoded[h]; ok {
			typ, size = obj.Type(), obj.Size()
			rd, _ := obj.Reader()
			src = rd
		} else if b, ok := n.blobs[h]; ok {
			f, err := os.Open(b.path)
			if err != nil {
				return cw.n, err
			}
			file = f
			typ, size, src = plumbing.BlobObject, b.size, f
			head = make([]byte, 16)
			k, _ := io.ReadFull(f, head)
			head = head[:k]
			src = io.MultiReader(bytes.NewReader(head), f)
		} else {
			return cw.n, fmt.Errorf("object %s to send is not available", shortHash(h))
		}
		writeObjectHeader(bw, typ, size)
		level := zlib.BestSpeed
		if alreadyCompressed(head) {
			level = zlib.NoCompression
		}
		z, ok := zw[level]
		if !ok {
			z, _ = zlib.NewWriterLevel(bw, level)
			zw[level] = z
		} else {
			z.Reset(bw)
		}
		got, err := io.CopyBuffer(z, io.LimitReader(src, size+1), buf)
		if file != nil {
			file.Close()
		}
		if err != nil {
			return cw.n, err
		}
		if got != size {
			return cw.n, fmt.Errorf("object %s changed while being sent (%d bytes, expected %d)", shortHash(h), got, size)
		}
		if err := z.Close(); err != nil {
			return cw.n, err
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return cw.n, err
	}
	return cw.n + sha1.Size, nil
}

func writeObjectHeader(w io.ByteWriter, t plumbing.ObjectType, size int64) {
	c := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		w.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	w.WriteByte(c)
}

// alreadyCompressed recognises formats whose content zlib cannot shrink.
func alreadyCompressed(head []byte) bool {
	for _, magic := range [][]byte{
		{0x89, 'P', 'N', 'G'}, {0xff, 0xd8, 0xff}, []byte("GIF8"), {0x1f, 0x8b},
		{'P', 'K', 0x03, 0x04}, []byte("RIFF"), {0x28, 0xb5, 0x2f, 0xfd}, []byte("BZh"),
		{0xfd, '7', 'z', 'X', 'Z'}, []byte("%PDF"),
	} {
		if bytes.HasPrefix(head, magic) {
			return true
		}
	}
	return false
}

type countWriter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n)
	}
	return n, err
}

// backupUpdates returns the commands that keep old (the tip about to be
// replaced) under refs/refbot/<kind>/<branch>/<time> and drop the oldest such
// refs beyond keep.
func backupUpdates(remote map[plumbing.ReferenceName]plumbing.Hash, kind, branch string, old plumbing.Hash, keep int, now time.Time) []refUpdate {
	if old.IsZero() {
		return nil
	}
	prefix := "refs/refbot/" + kind + "/" + branch + "/"
	type backup struct {
		name plumbing.ReferenceName
		at   int64
	}
	var existing []backup
	for name := range remote {
		if rest, ok := strings.CutPrefix(name.String(), prefix); ok {
			at, err := strconv.ParseInt(rest, 10, 64)
			if err == nil {
				existing = append(existing, backup{name, at})
			}
		}
	}
	sort.Slice(existing, func(i, j int) bool { return existing[i].at > existing[j].at })
	stamp := now.UnixNano()
	if len(existing) > 0 && existing[0].at >= stamp {
		stamp = existing[0].at + 1
	}
	ups := []refUpdate{{Name: plumbing.ReferenceName(prefix + strconv.FormatInt(stamp, 10)), New: old}}
	if keep > 0 {
		for i := keep - 1; i < len(existing); i++ {
			ups = append(ups, refUpdate{Name: existing[i].name, Old: remote[existing[i].name]})
		}
	}
	return ups
}
