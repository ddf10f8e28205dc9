-- A database as refbot left it before issue 10: schema version 4 (refbot's
-- tables up to WEBSITE's) and River v0.49.0's tables at their version 8,
-- written by refbot at commit ee741ba through its store and queue, then
-- dumped with sqlite3's .dump. It holds a published WEBSITE preview (#7,
-- slot 1), a queued WEBSITE request (#9) with its job scheduled, a done
-- UPDATE and its cooldown, a merge, replies, heads and the reconciler's
-- memory. Never regenerate it: it stands for databases in use.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE refbot_schema (version INTEGER NOT NULL);
INSERT INTO refbot_schema VALUES(4);
CREATE TABLE refbot_delivery (
			id TEXT PRIMARY KEY,
			event TEXT NOT NULL,
			action TEXT NOT NULL,
			received_at TEXT NOT NULL,
			ignored TEXT NOT NULL DEFAULT ''
		);
INSERT INTO refbot_delivery VALUES('delivery-701','issue_comment','created','2026-05-01T12:00:00.000000000Z','');
INSERT INTO refbot_delivery VALUES('delivery-702','issue_comment','created','2026-05-01T12:01:00.000000000Z','');
INSERT INTO refbot_delivery VALUES('delivery-901','issue_comment','created','2026-05-01T12:02:00.000000000Z','');
CREATE TABLE refbot_comment (
			comment_id INTEGER PRIMARY KEY,
			pr INTEGER NOT NULL,
			delivery_id TEXT NOT NULL
		);
INSERT INTO refbot_comment VALUES(701,7,'delivery-701');
INSERT INTO refbot_comment VALUES(702,7,'delivery-702');
INSERT INTO refbot_comment VALUES(901,9,'delivery-901');
CREATE TABLE refbot_reply (
			comment_id INTEGER NOT NULL, verb TEXT NOT NULL, reply_id INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT '', PRIMARY KEY (comment_id, verb));
INSERT INTO refbot_reply VALUES(701,'WEBSITE',100701,'2026-05-01T12:00:00.000000000Z');
INSERT INTO refbot_reply VALUES(702,'UPDATE',100702,'2026-05-01T12:00:00.000000000Z');
CREATE TABLE refbot_pending (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, sha));
CREATE TABLE refbot_update_status (
			pr INTEGER PRIMARY KEY, sha TEXT NOT NULL, state TEXT NOT NULL, description TEXT NOT NULL,
			overlaps TEXT NOT NULL DEFAULT '');
CREATE TABLE refbot_cooldown (
			pr INTEGER NOT NULL, verb TEXT NOT NULL, last_run TEXT NOT NULL, comment_id INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (pr, verb));
INSERT INTO refbot_cooldown VALUES(7,'WEBSITE','2026-05-01T12:00:00.000000000Z',701);
INSERT INTO refbot_cooldown VALUES(7,'UPDATE','2026-05-01T12:00:00.000000000Z',702);
CREATE TABLE refbot_reconcile (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO refbot_reconcile VALUES('last_pass','2026-05-01T12:00:00.000000000Z');
CREATE TABLE refbot_reconcile_pr (pr INTEGER PRIMARY KEY, updated_at TEXT NOT NULL);
INSERT INTO refbot_reconcile_pr VALUES(7,'2026-05-01T12:00:00.000000000Z');
INSERT INTO refbot_reconcile_pr VALUES(9,'2026-05-01T12:00:00.000000000Z');
CREATE TABLE refbot_cache_status (pr INTEGER PRIMARY KEY, sha TEXT NOT NULL,
			state TEXT NOT NULL, description TEXT NOT NULL, build TEXT NOT NULL);
CREATE TABLE refbot_lease (
			name TEXT PRIMARY KEY,
			holder TEXT NOT NULL,
			expires_at TEXT NOT NULL);
CREATE TABLE refbot_update (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			comment_id INTEGER NOT NULL,
			cmd_key TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head TEXT NOT NULL,
			build TEXT NOT NULL,
			author TEXT NOT NULL,
			step TEXT NOT NULL,
			data_commit TEXT NOT NULL DEFAULT '',
			restart_at TEXT NOT NULL DEFAULT '',
			restart_before TEXT NOT NULL DEFAULT '',
			restarts INTEGER NOT NULL DEFAULT 0,
			seen_running INTEGER NOT NULL DEFAULT 0,
			polls INTEGER NOT NULL DEFAULT 0,
			view TEXT NOT NULL DEFAULT '',
			outcome TEXT NOT NULL DEFAULT '',
			reported INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			UNIQUE (comment_id, cmd_key));
INSERT INTO refbot_update VALUES(1,702,'UPDATE',7,'7777777777777777777777777777777777777777','4001','alice','done','dddddddddddddddddddddddddddddddddddddddd','','',0,0,0,'','passed',1,'2026-05-01T12:00:00.000000000Z','2026-05-01T12:00:00.000000000Z');
CREATE TABLE refbot_command_done (
			comment_id INTEGER NOT NULL, cmd_key TEXT NOT NULL, PRIMARY KEY (comment_id, cmd_key));
INSERT INTO refbot_command_done VALUES(701,'WEBSITE');
INSERT INTO refbot_command_done VALUES(702,'UPDATE');
CREATE TABLE refbot_head (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, seen_at TEXT NOT NULL, source TEXT NOT NULL,
			PRIMARY KEY (pr, seen_at, sha));
INSERT INTO refbot_head VALUES(7,'7777777777777777777777777777777777777777','2026-05-01T11:00:00.000000000Z','webhook');
INSERT INTO refbot_head VALUES(9,'9999999999999999999999999999999999999999','2026-05-01T11:00:00.000000000Z','reconciler');
CREATE TABLE refbot_merge (
			pr INTEGER PRIMARY KEY,
			merge_commit TEXT NOT NULL,
			head TEXT NOT NULL,
			code_base TEXT NOT NULL,
			merged_at TEXT NOT NULL,
			merged_by TEXT NOT NULL,
			step TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			against TEXT NOT NULL DEFAULT '',
			build TEXT NOT NULL DEFAULT '',
			data_commit TEXT NOT NULL DEFAULT '',
			view TEXT NOT NULL DEFAULT '',
			started_at TEXT NOT NULL,
			updated_at TEXT NOT NULL);
INSERT INTO refbot_merge VALUES(5,'5555555555555555555555555555555555555555','5050505050505050505050505050505050505050','','2026-05-01T10:00:00.000000000Z','carol','started','','','','','','2026-05-01T12:00:00.000000000Z','2026-05-01T12:00:00.000000000Z');
CREATE TABLE refbot_unprivileged_reply (login TEXT PRIMARY KEY, at TEXT NOT NULL, comment_id INTEGER NOT NULL);
CREATE TABLE refbot_verb_run (
			verb TEXT NOT NULL,
			comment_id INTEGER NOT NULL,
			pr INTEGER NOT NULL,
			day TEXT NOT NULL,
			slot INTEGER NOT NULL DEFAULT 0,
			taken_at TEXT NOT NULL,
			prev_pr INTEGER NOT NULL DEFAULT 0,
			prev_comment_id INTEGER NOT NULL DEFAULT 0,
			prev_used_at TEXT NOT NULL DEFAULT '',
			prev_held_until TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (verb, comment_id));
INSERT INTO refbot_verb_run VALUES('WEBSITE',701,7,'2026-05-01',1,'2026-05-01T12:00:00.000000000Z',0,0,'','');
CREATE TABLE refbot_verb_day (
			verb TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (verb, day));
INSERT INTO refbot_verb_day VALUES('WEBSITE','2026-05-01',1);
CREATE TABLE refbot_verb_slot (
			verb TEXT NOT NULL,
			slot INTEGER NOT NULL,
			pr INTEGER NOT NULL,
			comment_id INTEGER NOT NULL,
			used_at TEXT NOT NULL,
			held_until TEXT NOT NULL,
			PRIMARY KEY (verb, slot));
INSERT INTO refbot_verb_slot VALUES('WEBSITE',1,7,701,'2026-05-01T12:00:00.000000000Z','2026-05-01T14:00:00.000000000Z');
CREATE TABLE refbot_website (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			comment_id INTEGER NOT NULL,
			cmd_key TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head TEXT NOT NULL,
			branch TEXT NOT NULL,
			author TEXT NOT NULL,
			step TEXT NOT NULL,
			until TEXT NOT NULL DEFAULT '',
			reason TEXT NOT NULL DEFAULT '',
			slot INTEGER NOT NULL DEFAULT 0,
			request TEXT NOT NULL DEFAULT '',
			build TEXT NOT NULL DEFAULT '',
			build_url TEXT NOT NULL DEFAULT '',
			triggered_at TEXT NOT NULL DEFAULT '',
			preview_url TEXT NOT NULL DEFAULT '',
			held_until TEXT NOT NULL DEFAULT '',
			detail TEXT NOT NULL DEFAULT '',
			ended_by TEXT NOT NULL DEFAULT '',
			reported INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			UNIQUE (comment_id, cmd_key));
INSERT INTO refbot_website VALUES(1,701,'WEBSITE',7,'7777777777777777777777777777777777777777','master','alice','published','2026-05-01T12:00:00.000000000Z','',1,'','5001','https://travis.example/builds/5001','','https://preview.example.org/','2026-05-01T14:00:00.000000000Z','','',1,'2026-05-01T12:00:00.000000000Z','2026-05-01T12:00:00.000000000Z');
INSERT INTO refbot_website VALUES(2,901,'WEBSITE',9,'9999999999999999999999999999999999999999','master','bob','queued','2026-05-02T00:00:00.000000000Z','preview 1 is held for #7 until 14:00 UTC',0,'','','','','','','','',0,'2026-05-01T12:00:00.000000000Z','2026-05-01T12:00:00.000000000Z');
CREATE TABLE river_leader (
    elected_at timestamp NOT NULL,
    expires_at timestamp NOT NULL,
    leader_id text NOT NULL,
    name text PRIMARY KEY NOT NULL DEFAULT 'default' CHECK (name = 'default'),
    CONSTRAINT name_length CHECK (length(name) > 0 AND length(name) < 128),
    CONSTRAINT leader_id_length CHECK (length(leader_id) > 0 AND length(leader_id) < 128)
);
CREATE TABLE river_migration (
    line text NOT NULL,
    version integer NOT NULL,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT line_length CHECK (length(line) > 0 AND length(line) < 128),
    CONSTRAINT version_gte_1 CHECK (version >= 1),
    PRIMARY KEY (line, version)
);
INSERT INTO river_migration VALUES('main',1,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',2,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',3,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',4,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',5,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',6,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',7,'2026-12-03 14:21:34');
INSERT INTO river_migration VALUES('main',8,'2026-12-03 14:21:34');
CREATE TABLE river_notification (
    id integer PRIMARY KEY AUTOINCREMENT,
    created_at timestamp NOT NULL DEFAULT (datetime('now', 'subsec')),
    payload text NOT NULL,
    topic text NOT NULL,
    CONSTRAINT topic_length CHECK (length(topic) > 0 AND length(topic) < 128)
);
INSERT INTO river_notification VALUES(1,'2026-12-03 14:21:34.554','{"queue": "ci"}','river_insert');
CREATE TABLE river_queue (
    name text PRIMARY KEY NOT NULL,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    metadata blob NOT NULL DEFAULT (jsonb('{}')),
    paused_at timestamp,
    updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE river_job (
    id integer PRIMARY KEY AUTOINCREMENT,
    args blob NOT NULL DEFAULT (jsonb('{}')),
    attempt integer NOT NULL DEFAULT 0,
    attempted_at timestamp,
    attempted_by blob, -- json
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    errors blob, -- json
    finalized_at timestamp,
    kind text NOT NULL,
    max_attempts integer NOT NULL DEFAULT 25,
    metadata blob NOT NULL DEFAULT (jsonb('{}')),
    priority integer NOT NULL DEFAULT 1,
    queue text NOT NULL DEFAULT 'default',
    state text NOT NULL DEFAULT 'available',
    scheduled_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    tags blob NOT NULL DEFAULT (jsonb('[]')),
    unique_key blob,
    unique_states integer,
    CONSTRAINT finalized_or_finalized_at_null CHECK (
        (finalized_at IS NULL AND state NOT IN ('cancelled', 'completed', 'discarded')) OR
        (finalized_at IS NOT NULL AND state IN ('cancelled', 'completed', 'discarded'))
    ),
    CONSTRAINT priority_in_range CHECK (priority >= 1 AND priority <= 4),
    CONSTRAINT queue_length CHECK (length(queue) > 0 AND length(queue) < 128),
    CONSTRAINT kind_length CHECK (length(kind) > 0 AND length(kind) < 128),
    CONSTRAINT state_valid CHECK (state IN ('available', 'cancelled', 'completed', 'discarded', 'pending', 'retryable', 'running', 'scheduled'))
);
INSERT INTO river_job VALUES(1,X'cc0f277072133977776562736974651332',0,NULL,NULL,'2026-12-03 14:21:34.554',NULL,NULL,'website',10,X'cc26c71272697665723a756e697175655f6e6f6e6365c71037643863386136316361366334376133',1,'ci','available','2026-12-03 14:21:34.554',X'0b',X'e54fd35dd64beeb5ad05986aebcb47e3795c5ea02e803923bb91cdf991cfa2e5',241);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('river_job',1);
INSERT INTO sqlite_sequence VALUES('refbot_website',2);
INSERT INTO sqlite_sequence VALUES('river_notification',1);
INSERT INTO sqlite_sequence VALUES('refbot_update',1);
CREATE INDEX refbot_update_pr ON refbot_update (pr, step);
CREATE INDEX refbot_website_pr ON refbot_website (pr, step);
CREATE INDEX river_notification_created_at_idx ON river_notification (created_at);
CREATE INDEX river_notification_topic_id_idx ON river_notification (topic, id);
CREATE INDEX river_job_kind ON river_job (kind);
CREATE INDEX river_job_state_and_finalized_at_index ON river_job (state, finalized_at) WHERE finalized_at IS NOT NULL;
CREATE INDEX river_job_prioritized_fetching_index ON river_job (state, queue, priority, scheduled_at, id);
CREATE UNIQUE INDEX river_job_unique_idx ON river_job (unique_key)
    WHERE unique_key IS NOT NULL
        AND unique_states IS NOT NULL
        AND CASE state
            WHEN 'available' THEN unique_states & (1 << 0)
            WHEN 'cancelled' THEN unique_states & (1 << 1)
            WHEN 'completed' THEN unique_states & (1 << 2)
            WHEN 'discarded' THEN unique_states & (1 << 3)
            WHEN 'pending'   THEN unique_states & (1 << 4)
            WHEN 'retryable' THEN unique_states & (1 << 5)
            WHEN 'running'   THEN unique_states & (1 << 6)
            WHEN 'scheduled' THEN unique_states & (1 << 7)
            ELSE 0
        END >= 1;
COMMIT;
