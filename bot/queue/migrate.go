package queue

import (
	"context"
	"fmt"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/refbot/refbot/bot/store"
)

// MigrateRiver brings River's tables in st's database up to date without
// starting a queue, as Open does at serve's start, and returns the version
// of River's schema before and after (0: no tables yet): for `refbot
// migrate`. On SQLite the caller holds the database alone (store's
// Options.Exclusive); on PostgreSQL the migration takes the lock that
// replicas starting together take.
func MigrateRiver(ctx context.Context, st *store.Store) (from, to int, err error) {
	if pool := st.Postgres(); pool != nil {
		driver := riverpgxv5.New(pool)
		m, err := rivermigrate.New(driver, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("queue: migrations: %w", err)
		}
		return riverVersions(ctx, m, func() error { return migrateRiver(ctx, driver, pool) })
	}
	m, err := rivermigrate.New(riversqlite.New(st.DB()), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: migrations: %w", err)
	}
	return riverVersions(ctx, m, func() error {
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("queue: migrate River's tables: %w", err)
		}
		return nil
	})
}

// riverVersions runs migrate between two readings of River's version.
func riverVersions[TTx any](ctx context.Context, m *rivermigrate.Migrator[TTx], migrate func() error) (from, to int, err error) {
	version := func() (int, error) {
		done, err := m.ExistingVersions(ctx)
		if err != nil {
			return 0, fmt.Errorf("queue: River's schema version: %w", err)
		}
		if len(done) == 0 {
			return 0, nil
		}
		return done[len(done)-1].Version, nil
	}
	if from, err = version(); err != nil {
		return 0, 0, err
	}
	if err := migrate(); err != nil {
		return from, from, err
	}
	to, err = version()
	return from, to, err
}
