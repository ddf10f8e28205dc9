package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// lockTx holds the lock called name until tx ends, waiting for another
// transaction holding it: for the transactions that read, decide and then
// write rows that may not exist yet (a cooldown, a verb's day and slots),
// where a row lock would lock nothing. With PostgreSQL it is an advisory
// transaction lock; with SQLite nothing is needed, as every write
// transaction holds the whole database from its start (_txlock=immediate).
func (s *Store) lockTx(ctx context.Context, tx *sql.Tx, name string) error {
	if s.dialect != postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "refbot:"+name); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

// WithLock runs f holding the lock called name, waiting while another
// holds it, in every process sharing the database: for work that calls
// outside between reading and writing the store (post a status to GitHub,
// then remember it), which one transaction cannot cover. With PostgreSQL
// the lock is an advisory lock held by a transaction open while f runs,
// so that a replica that dies lets go of it with its connection; with
// SQLite, which one process holds, it is a lock in memory.
func (s *Store) WithLock(ctx context.Context, name string, f func() error) error {
	if s.dialect != postgres {
		unlock, err := s.locks.lock(ctx, name)
		if err != nil {
			return err
		}
		defer unlock()
		return f()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	// Rolled back: the transaction only holds the lock; what f writes, it
	// writes through the store's other connections.
	defer tx.Rollback()
	if err := s.lockTx(ctx, tx, name); err != nil {
		return err
	}
	return f()
}

// namedLocks are locks by name within one process, which a context can
// stop waiting for.
type namedLocks struct {
	mu    sync.Mutex
	held  map[string]chan struct{}
	waits map[string]int
}

func (l *namedLocks) lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	if l.held == nil {
		l.held, l.waits = map[string]chan struct{}{}, map[string]int{}
	}
	ch, ok := l.held[name]
	if !ok {
		ch = make(chan struct{}, 1)
		l.held[name] = ch
	}
	l.waits[name]++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.waits[name]--; l.waits[name] == 0 {
			delete(l.held, name)
			delete(l.waits, name)
		}
	}
	select {
	case ch <- struct{}{}:
		return func() { <-ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
