package refdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrTooLarge: the blobs asked for add up to more than the caller allows.
var ErrTooLarge = errors.New("larger than allowed")

// Blobs reads the contents of the given blobs from the data repo. The local
// cache holds no blobs (it is fetched with filter blob:none), so they are
// asked for by id in one protocol-v2 fetch, the request a partial clone
// makes for a missing blob; GitHub and git http-backend both serve it.
// Reading stops with ErrTooLarge once the pack passes maxBytes, so a small
// text file that used to be a large one costs little. Replies use it for
// the text diffs of small files.
func (r *Repo) Blobs(ctx context.Context, ids []plumbing.Hash, maxBytes int64) (map[plumbing.Hash][]byte, error) {
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

	hreq, err := r.rpcRequest(ctx, "git-upload-pack", &req)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Git-Protocol", "version=2")
	resp, err := r.httpc.Do(hreq)
	if err != nil {
		return nil, r.redact(fmt.Errorf("read blobs from data repo: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, r.redact(fmt.Errorf("read blobs from data repo: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body))))
	}
	limited := &limitReader{r: resp.Body, left: maxBytes}
	// The answer is a list of sections; with "done" sent, the pack's comes
	// without acknowledgments. Its lines are side-band multiplexed.
	sc := pktline.NewScanner(limited)
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, r.redact(fmt.Errorf("read blobs from data repo: %w", err))
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
	st := memory.NewStorage()
	if err := packfile.UpdateObjectStorage(st, sideband.NewDemuxer(sideband.Sideband64k, limited)); err != nil {
		if limited.over {
			return nil, fmt.Errorf("read blobs from data repo: %w (%d bytes)", ErrTooLarge, maxBytes)
		}
		return nil, r.redact(fmt.Errorf("read blobs from data repo: %w", err))
	}
	for id := range seen {
		obj, err := st.EncodedObject(plumbing.BlobObject, id)
		if err != nil {
			return nil, fmt.Errorf("read blobs from data repo: blob %s not sent: %w", id, err)
		}
		rd, err := obj.Reader()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, nil
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
