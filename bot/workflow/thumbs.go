package workflow

import (
	"fmt"
	"path"
	"strings"

	"github.com/refbot/refbot/refdata"
)

// maxThumbs is how many images a reply shows as thumbnails; the review
// page shows them all.
const maxThumbs = 4

// thumb is one thumbnail in a reply: old | new | difference of an image.
type thumb struct {
	Path   string
	Action string
	URL    string
}

// thumbs are the thumbnails of the first changed or added images of
// changes, served by refbot's pages (docs/design.md, "Review pages"), with
// links signed when the pages are private, for GitHub's image proxy
// fetches them without signing in. Pushed data is read from the data repo
// by blob id; a PLAN's new sides are in the build only.
func (b *Bot) thumbs(pr int, build string, changes []refdata.Change, pushed bool) []thumb {
	if b.cfg.PublicURL == "" || !b.cfg.Thumbnails {
		return nil
	}
	root := strings.Trim(b.cfg.DataRoot, "/")
	var out []thumb
	for _, c := range changes {
		if len(out) == maxThumbs {
			break
		}
		if c.Action == refdata.Removed || !imageExts[strings.ToLower(path.Ext(c.Path))] {
			continue
		}
		old := ""
		if !c.Old.IsZero() {
			old = c.Old.String()
		}
		// p is the link's path and query; target the same as the
		// server reads it (decoded), which the signature covers.
		var p, target string
		if pushed {
			p = fmt.Sprintf("/thumb/%s-%s.png", old, c.New)
			target = p
		} else {
			rel := c.Path
			if root != "" && root != "." {
				var ok bool
				if rel, ok = strings.CutPrefix(c.Path, root+"/"); !ok {
					continue
				}
			}
			p = fmt.Sprintf("/pr/%d/thumb/%s/%s", pr, build, pathURL(rel))
			target = fmt.Sprintf("/pr/%d/thumb/%s/%s", pr, build, rel)
			// The sides' contents: a build uploaded again under its id
			// must not be shown as this one (nor cached as it).
			var q []string
			if old != "" {
				q = append(q, "old="+old)
			}
			if !c.New.IsZero() {
				q = append(q, "new="+c.New.String())
			}
			if len(q) > 0 {
				p += "?" + strings.Join(q, "&")
				target += "?" + strings.Join(q, "&")
			}
		}
		u := strings.TrimSuffix(b.cfg.PublicURL, "/") + p
		if b.cfg.SignLink != nil {
			if q := b.cfg.SignLink(target); q != "" {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				u += sep + q
			}
		}
		out = append(out, thumb{Path: c.Path, Action: string(c.Action), URL: u})
	}
	return out
}

// reviewURL is the review page of pr; against "base" shows what the PR's
// data changes against the base (after an UPDATE, when the branch holds
// the build).
func (b *Bot) reviewURL(pr int, againstBase bool) string {
	u := b.prURL(pr)
	if u == "" {
		return ""
	}
	if againstBase {
		u += "?against=base"
	}
	return u + "#review"
}
