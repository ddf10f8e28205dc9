package workflow

import (
	"context"
	"slices"
	"time"

	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/store"
)

// WebsiteOverview is where WEBSITE stands in the repository, for the pages
// and `refbot status`: the previews, the requests waiting or running, and
// the day's count against its cap.
type WebsiteOverview struct {
	Day       string // today, UTC
	Today     int    // docs builds counted today
	MaxPerDay int    // 0: no cap
	Previews  []PreviewSlot
	Queued    []store.Website // waiting for their limits, soonest first
	Running   []store.Website // asking CI, building or publishing
}

// PreviewSlot is one preview and the request that holds it. Step is that
// request's: "published" when the preview shows its site; while its docs
// build runs, the preview still shows the site before it.
type PreviewSlot struct {
	Slot      int
	URL       string
	PR        int // 0: never used
	Head      string
	Build     string
	Step      string
	HeldUntil time.Time
}

// WebsiteStates is what ReadWebsiteOverview needs of the policy engine.
type WebsiteStates interface {
	State(ctx context.Context, verb string) (policy.State, error)
}

// ReadWebsiteOverview reads the overview from refbot's database; url is
// a slot's preview address.
func ReadWebsiteOverview(ctx context.Context, st *store.Store, pol WebsiteStates, url func(slot int) string) (WebsiteOverview, error) {
	state, err := pol.State(ctx, websiteVerb)
	if err != nil {
		return WebsiteOverview{}, err
	}
	o := WebsiteOverview{Day: state.Day, Today: state.Today, MaxPerDay: state.MaxPerDay}
	for _, sl := range state.Slots {
		p := PreviewSlot{Slot: sl.Slot, PR: sl.PR, HeldUntil: sl.HeldUntil}
		if url != nil {
			p.URL = url(sl.Slot)
		}
		if sl.Comment != 0 {
			rec, err := st.WebsiteByComment(ctx, sl.Comment)
			if err != nil {
				return o, err
			}
			if rec != nil {
				p.Head, p.Build, p.Step = rec.Head, rec.Build, rec.Step
			}
		}
		o.Previews = append(o.Previews, p)
	}
	active, err := st.ActiveWebsites(ctx, 0)
	if err != nil {
		return o, err
	}
	for _, rec := range active {
		if rec.Step == store.WebsiteQueued {
			o.Queued = append(o.Queued, rec)
		} else {
			o.Running = append(o.Running, rec)
		}
	}
	slices.SortStableFunc(o.Queued, func(a, b store.Website) int { return a.Until.Compare(b.Until) })
	return o, nil
}

// WebsiteOverview is ReadWebsiteOverview for this Bot's site; the zero
// overview when WEBSITE is not set up.
func (b *Bot) WebsiteOverview(ctx context.Context, pol WebsiteStates) (WebsiteOverview, error) {
	if b.site == nil {
		return WebsiteOverview{}, nil
	}
	return ReadWebsiteOverview(ctx, b.st, pol, func(slot int) string {
		_, u := b.site.Preview(slot)
		return u
	})
}
